# -*- coding: utf-8 -*-
# Copyright: dfir.docker contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side: bring a host's artifacts into the case, hash them again, log custody.

Files are streamed by the connection's own file transfer (SFTP/SCP over
SSH, a copy for a local connection), never read into memory: the staging
dir is first handed to the login account, so no privilege escalation is
needed for the transfer (ansible.builtin.fetch with become falls back to
slurp, which holds the whole file in memory). Small artifacts travel in
batches, one tar stream each (see _bundle), so that hundreds of small
files do not cost hundreds of round trips.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import getpass
import os
import re

from ansible.errors import AnsibleActionFail, AnsibleConnectionFailure, AnsibleError
from ansible.plugins.action import ActionBase

from ansible_collections.dfir.docker.plugins.plugin_utils import _bundle, _case

# Result keys kept in collection.json and the custody log for each step.
STEP_KEYS = ('failed', 'msg', 'errors', 'warnings', 'started_at', 'finished_at', 'source', 'skipped', 'skip_reason',
             'state_changes')
# What each state change a step made (a freeze, a thaw) says in its own custody line.
CHANGE_TARGET = ('container_id', 'container_name', 'method', 'control_file')
CHANGE_RESULT = ('changed', 'ok', 'state_before', 'state_after', 'msg')


def _step_summary(name, result):
    summary = {'step': name}
    for key in STEP_KEYS:
        if key in result:
            summary[key] = result[key]
    if result.get('unreachable'):
        # The host stopped answering during this step (the role ignores unreachability, to record it).
        reason = str(result.get('msg') or 'no answer')
        if reason.startswith('Task failed: '):
            reason = reason[len('Task failed: '):]
        summary.update(failed=True, msg='the host could not be reached: %s' % reason)
    summary['artifacts'] = len([item for item in result.get('artifacts') or [] if item.get('sha256')])
    summary['parameters'] = result.get('parameters') or (result.get('invocation') or {}).get('module_args') or {}
    for outcome in result.get('containers') or []:
        if isinstance(outcome, dict) and outcome.get('failed'):
            summary.setdefault('failed_containers', []).append(
                {'id': outcome.get('id'), 'requested': outcome.get('requested'), 'msg': outcome.get('msg')})
    return summary


# A time as the staging module writes it into its marker file (_safe_io.utc_now).
UTC_TIME = re.compile(r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$')


class ActionModule(ActionBase):

    # No remote temporary dir up front: the files come back through the connection's own fetch_file,
    # and a host lost before or during the transfer is then recorded inside run() instead of
    # failing the task as unreachable before it starts.
    TRANSFERS_FILES = False

    ARGUMENT_SPEC = dict(
        evidence_dir=dict(type='str', required=True),
        case_dir=dict(type='path', required=True),
        examiner=dict(type='str', required=True),
        steps=dict(type='dict', default={}),
        host_failure=dict(type='str'),
        selected=dict(type='list', elements='str'),
        staging=dict(type='dict'),
        remove_staging=dict(type='bool', default=False),
    )

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        _validation, args = self.validate_argument_spec(argument_spec=self.ARGUMENT_SPEC)
        task_vars = task_vars or {}
        host = _case.check_host_name(task_vars.get('inventory_hostname'))
        case_dir = args['case_dir']
        # In check mode case_open creates nothing: a case dir that is not there yet is expected.
        if not os.path.isdir(case_dir) and not self._task.check_mode:
            raise AnsibleActionFail('case directory %s does not exist; open the case first' % case_dir)
        host_dir = _case.host_dir(case_dir, host)
        collection_path = os.path.join(host_dir, _case.COLLECTION)
        if os.path.exists(collection_path):
            raise AnsibleActionFail('host %s was already collected into %s; use a new case id to collect it again'
                                    % (host, case_dir))

        steps = dict((name, step) for name, step in (args['steps'] or {}).items()
                     if isinstance(step, dict) and step and not step.get('skipped'))
        artifacts = self._artifacts(steps)
        if self._task.check_mode:
            result.update(changed=False, artifacts=len(artifacts), msg='check mode: nothing fetched')
            return result

        os.makedirs(host_dir, mode=0o750, exist_ok=True)
        problems = []
        # A file that arrived different from what the host hashed: the case must not be sealed.
        mismatches = []
        fetched_bytes = 0
        started_at = _case.utc_now()
        self._lost = False
        try:
            if artifacts:
                self._hand_over(args['evidence_dir'], task_vars)
            for artifact, error in self._transfer(args['evidence_dir'], host_dir, artifacts):
                if error:
                    problems.append(error)
                    if artifact.get('hash_mismatch'):
                        mismatches.append(error)
                else:
                    fetched_bytes += artifact['size']
        except AnsibleActionFail as exc:
            problems.append(str(exc))
        except AnsibleConnectionFailure as exc:
            # What arrived whole is kept and recorded; the rest stays in the staging dir on the host.
            self._lost = True
            missing = len([item for item in artifacts if not item.get('sha256_controller')])
            problems.append('the host stopped answering during the transfer, %d artifact(s) not fetched: %s'
                            % (missing, exc))

        collection = {
            'host': host,
            'evidence_dir': args['evidence_dir'],
            'fetch_started_at': started_at,
            'fetched_at': _case.utc_now(),
            'host_failure': args['host_failure'],
            'selected_containers': args['selected'],
            'steps': [_step_summary(name, step) for name, step in sorted(steps.items(), key=lambda item: str(item[1].get('started_at')))],
            'fetch_problems': problems,
            'hash_mismatches': mismatches,
            'artifacts': [item for item in artifacts if item.get('sha256_controller')],
        }
        login_user = self._login_user()
        if args['staging']:
            created = args['staging']
            # The time comes from the marker file on the host: used only when it is a UTC time as the
            # staging module writes it; anything else is recorded as what the host said, beside the time now.
            created_at = created.get('created_at')
            when = created_at if isinstance(created_at, str) and UTC_TIME.match(created_at) else None
            facts = {key: created.get(key) for key in ('free_bytes', 'same_filesystem_as_docker_root') if key in created}
            if created_at is not None and when is None:
                facts['host_created_at'] = created_at
            _case.append_custody(case_dir, 'staging dir created' if created.get('changed') else 'staging dir found',
                                 args['examiner'], host,
                                 {'path': created.get('path') or args['evidence_dir'], 'login_user': login_user,
                                  'host_user': created.get('user')},
                                 facts, when=when)
        for summary in collection['steps']:
            for change in summary.get('state_changes') or []:
                _case.append_custody(case_dir, '%s: %s' % (summary['step'], change.get('action')), args['examiner'], host,
                                     dict((key, change.get(key)) for key in CHANGE_TARGET),
                                     dict((key, change.get(key)) for key in CHANGE_RESULT), when=change.get('at'))
            _case.append_custody(case_dir, summary['step'], args['examiner'], host, summary.get('parameters'),
                                 {key: summary.get(key) for key in ('failed', 'msg', 'artifacts', 'errors', 'failed_containers')
                                  if key in summary},
                                 when=summary.get('finished_at'))
        if args['selected'] is not None:
            _case.append_custody(case_dir, 'select containers', args['examiner'], host,
                                 result={'selected': len(args['selected']), 'containers': args['selected'],
                                         'note': None if args['selected'] else 'the selection matched no container on this host'})
        outcome = {'fetched': len(collection['artifacts']), 'bytes': fetched_bytes, 'problems': problems}
        _case.append_custody(case_dir, 'fetch', args['examiner'], host, {'evidence_dir': args['evidence_dir']}, outcome)
        # Then the host's staged copy: only what is now in the case, with the same hash, is removed.
        staging = self._clean_staging(args, collection['artifacts'], task_vars)
        when, host_user = staging.pop('at'), staging.pop('user', None)
        collection['staging'] = staging
        _case.append_custody(case_dir, 'staging dir %s' % staging['state'], args['examiner'], host,
                             {'path': args['evidence_dir'], 'login_user': login_user, 'host_user': host_user,
                              'remove': 'what is in the case with the same hash' if args['remove_staging'] else 'nothing'},
                             dict((key, value) for key, value in staging.items() if key not in ('state', 'path')),
                             when=when)
        _case.write_json(collection_path, collection)
        result.update(changed=True, host_dir=host_dir, fetched=len(collection['artifacts']), bytes=fetched_bytes,
                      problems=problems, staging=staging)
        messages = []
        if problems:
            messages.append('%d artifact(s) of %s failed the transfer check: %s' % (len(problems), host, '; '.join(problems)))
        if staging.get('problem'):
            messages.append(staging['problem'])
        if messages:
            result.update(failed=True, msg='; '.join(messages))
        return result

    def _clean_staging(self, args, fetched, task_vars):
        """Remove from the host what is in the case with the host's hash; keep the staging dir if anything
        else is left there. Return what was done, for collection.json and the custody log."""
        path = args['evidence_dir']
        outcome = {'path': path}
        if not args['remove_staging']:
            outcome.update(state='kept', reason='kept on request (remove_staging is false; the roles\' dfir_keep_staging)',
                           at=_case.utc_now())
            return outcome
        if self._lost:
            outcome.update(state='kept', at=_case.utc_now(), reason='the host stopped answering: nothing was removed',
                           problem='the staging dir %s is kept on the host, which stopped answering' % path)
            return outcome
        try:
            removed = self._execute_module(module_name='dfir.docker.staging',
                                           module_args={'path': path, 'state': 'absent',
                                                        'only': sorted(item['path'] for item in fetched)},
                                           task_vars=task_vars)
        except AnsibleError as exc:
            removed = {'failed': True, 'msg': str(exc)}
        outcome['at'] = _case.utc_now()
        outcome['user'] = removed.get('user')
        if removed.get('failed') or removed.get('unreachable'):
            reason = str(removed.get('msg') or 'no answer')
            outcome.update(state='kept', reason='could not be removed: %s' % reason,
                           problem='the staging dir %s is still on the host: it could not be removed: %s' % (path, reason))
            return outcome
        for key in ('removed_files', 'removed_bytes', 'left_files', 'left_bytes', 'left', 'not_removed'):
            outcome[key] = removed.get(key)
        if removed.get('removed'):
            outcome['state'] = 'removed'
            return outcome
        outcome.update(state='kept', reason='%d file(s) left there are not in the case' % (removed.get('left_files') or 0))
        outcome['problem'] = ('the staging dir %s is kept on the host: %d file(s) (%d bytes) left there are not in the case '
                              '(artifacts no step reported, or that did not arrive whole), for example %s'
                              % (path, removed.get('left_files') or 0, removed.get('left_bytes') or 0,
                                 ', '.join((removed.get('left') or [])[:5])))
        return outcome

    def _login_user(self):
        """The account the connection logs in as (before any become), as far as Ansible knows it."""
        if self._connection.transport in ('local', 'ansible.builtin.local'):
            try:
                return getpass.getuser()
            except Exception:  # noqa: B902 - getuser raises several types when there is no name
                return str(os.getuid())
        for getter in (lambda: self._connection.get_option('remote_user'), lambda: self._play_context.remote_user):
            try:
                value = getter()
            except Exception:  # noqa: B902 - an option the connection plugin does not have
                value = None
            if value:
                return value
        return None

    @staticmethod
    def _artifacts(steps):
        seen = {}
        for step in steps.values():
            for artifact in step.get('artifacts') or []:
                if isinstance(artifact, dict) and artifact.get('sha256') and artifact.get('path') and not artifact.get('planned'):
                    seen.setdefault(artifact['path'], dict(artifact))
        return [seen[path] for path in sorted(seen)]

    def _login_uid(self):
        if self._connection.transport in ('local', 'ansible.builtin.local'):
            return os.getuid()
        outcome = self._low_level_execute_command('id -u', sudoable=False)
        try:
            return int(outcome.get('stdout', '').strip())
        except ValueError:
            raise AnsibleActionFail('cannot tell the login user id on the host: %s' % (outcome.get('stderr') or outcome))

    def _hand_over(self, evidence_dir, task_vars):
        uid = self._login_uid()
        if uid == 0:
            return
        handed = self._execute_module(module_name='dfir.docker.staging',
                                      module_args={'path': evidence_dir, 'state': 'handover', 'owner': uid},
                                      task_vars=task_vars)
        if handed.get('unreachable'):
            self._lost = True
        if handed.get('failed') or handed.get('unreachable'):
            raise AnsibleActionFail('the staging dir could not be handed over for transfer: %s' % handed.get('msg'))

    def _transfer(self, evidence_dir, host_dir, artifacts):
        """Yield (artifact, error or None) for every artifact: small ones in batches, the rest one by one."""
        batches, singles = _bundle.plan(artifacts)
        for batch in batches:
            missed = self._fetch_batch(evidence_dir, host_dir, batch)
            for artifact in batch:
                if artifact['path'] in missed:
                    singles.append(artifact)
                else:
                    yield artifact, artifact.pop('_batch_error', None)
        for artifact in singles:
            yield artifact, self._fetch_one(evidence_dir, host_dir, artifact)

    @staticmethod
    def _local_paths(host_dir, relative):
        """(final path, partial path) of an artifact in the case, or None when its name would leave host_dir."""
        if relative.startswith('/') or '..' in relative.split('/'):
            return None
        local = os.path.join(host_dir, relative)
        os.makedirs(os.path.dirname(local), mode=0o750, exist_ok=True)
        return local, local + '.fetching'

    def _fetch_batch(self, evidence_dir, host_dir, batch):
        """Bring a batch over in one tar stream; return the paths that did not arrive (fetched one by one then)."""
        destinations = {}
        for artifact in batch:
            paths = self._local_paths(host_dir, artifact['path'])
            if paths and not os.path.lexists(paths[1]):
                destinations[artifact['path']] = paths[1]
        if not destinations:
            return set(artifact['path'] for artifact in batch)
        command = _bundle.tar_command(evidence_dir, sorted(destinations))
        # sudoable=False: no tty (it would mangle the bytes) and no become (the login user owns the files now).
        _rc, stdout, _stderr = self._connection.exec_command(command, sudoable=False)
        received = _bundle.unpack(stdout, destinations)
        for artifact in batch:
            if artifact['path'] in received:
                digest, size = received[artifact['path']]
                local = destinations[artifact['path']][:-len('.fetching')]
                artifact['_batch_error'] = self._accept(artifact, destinations[artifact['path']], local, digest, size)
        return set(artifact['path'] for artifact in batch) - set(received)

    def _fetch_one(self, evidence_dir, host_dir, artifact):
        relative = artifact['path']
        paths = self._local_paths(host_dir, relative)
        if paths is None:
            return '%s: refused, the artifact name leaves the host directory' % relative
        local, partial = paths
        remote = self._connection._shell.join_path(evidence_dir, relative)
        try:
            self._connection.fetch_file(remote, partial)
        except AnsibleConnectionFailure:
            raise
        except Exception as exc:  # noqa: B902 - connection plugins raise many kinds; each artifact fails alone
            self._discard(partial)
            return '%s: transfer failed: %s' % (relative, exc)
        if not os.path.isfile(partial):
            return '%s: transfer produced no file' % relative
        digest, size = _case.sha256_file(partial)
        return self._accept(artifact, partial, local, digest, size)

    def _accept(self, artifact, partial, local, digest, size):
        """Keep a transferred file whose hash and size are the host's; else discard it and say why."""
        relative = artifact['path']
        if digest != artifact['sha256'] or size != artifact['size']:
            self._discard(partial)
            artifact['hash_mismatch'] = True
            return '%s: SHA-256 on the controller %s (%d bytes) differs from the source %s (%d bytes); not kept' % (
                relative, digest, size, artifact['sha256'], artifact['size'])
        os.chmod(partial, 0o440)
        os.rename(partial, local)
        artifact['sha256_controller'] = digest
        artifact['fetched_at'] = _case.utc_now()
        return None

    @staticmethod
    def _discard(path):
        try:
            os.unlink(path)
        except OSError:
            pass
