# -*- coding: utf-8 -*-
# Copyright: dfir.docker contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side: re-check every artifact and seal the case with a signed manifest."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.dfir.docker.plugins.plugin_utils import _case, _sshsig
from ansible_collections.dfir.docker.plugins.plugin_utils._hosts import host_line, host_status
from ansible_collections.dfir.docker.plugins.plugin_utils._version import NAME, VERSION

MANIFEST_FORMAT = 'dfir.docker/case-manifest/1'


class ActionModule(ActionBase):

    TRANSFERS_FILES = False
    _requires_connection = False

    ARGUMENT_SPEC = dict(
        case_dir=dict(type='path', required=True),
        case_id=dict(type='str', required=True),
        examiner=dict(type='str', required=True),
        signing_key=dict(type='path', required=True),
        signing_key_passphrase=dict(type='str', no_log=True),
        signer=dict(type='str', required=True),
        hosts=dict(type='list', elements='str', default=[]),
        host_failures=dict(type='dict', default={}),
        description=dict(type='str'),
    )

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        _validation, args = self.validate_argument_spec(argument_spec=self.ARGUMENT_SPEC)
        case_dir = args['case_dir']
        if self._task.check_mode:
            # case_open created nothing in check mode: there is nothing to seal or read.
            result.update(changed=False, msg='check mode: not sealed', hosts={},
                          host_lines=['%s: check mode, nothing collected' % name for name in args['hosts']])
            return result
        if not os.path.isdir(case_dir):
            raise AnsibleActionFail('case directory %s does not exist' % case_dir)
        if os.path.exists(os.path.join(case_dir, _case.SIGNATURE)):
            raise AnsibleActionFail('case %s is already sealed' % case_dir)
        try:
            return self._seal(args, case_dir, result)
        except (_case.CaseError, _sshsig.SigningError) as exc:
            _case.append_custody(case_dir, 'seal refused', args['examiner'], result={'reason': str(exc)})
            raise AnsibleActionFail('case %s is NOT sealed: %s' % (case_dir, exc))

    def _seal(self, args, case_dir, result):
        # The key first: a case that cannot be signed is left exactly as it is.
        public_key = _sshsig.public_key(args['signing_key'], args['signing_key_passphrase'])
        fingerprint = _sshsig.fingerprint(public_key)

        host_collections = _case.collections(case_dir)
        # A transfer that failed (connection lost, no file) leaves its host partial, with the reason
        # (host_status). A file that arrived with another hash than the host computed is different:
        # the case is not sealed, as integrity end to end requires.
        artifacts, problems = _case.check_artifacts(case_dir, host_collections)
        for host, collection in sorted(host_collections.items()):
            for mismatch in collection.get('hash_mismatches') or []:
                problems.append('%s: %s' % (host, mismatch))
        extra, layout_problems = _case.unrecorded_files(case_dir, host_collections)
        problems.extend(layout_problems)
        problems.extend('%s: in the case but not recorded as collected' % path for path in extra)
        if problems:
            raise _case.CaseError('%d integrity problem(s): %s' % (len(problems), '; '.join(problems)))

        hosts = list(dict.fromkeys(list(args['hosts']) + sorted(host_collections)))
        statuses = [host_status(name, host_collections.get(name), args['host_failures']) for name in hosts]
        started_at = self._case_started_at(case_dir)
        for status in statuses:
            if status['name'] not in host_collections:
                _case.append_custody(case_dir, 'host not collected', args['examiner'], status['name'],
                                     result={'status': status['status'], 'reason': status['reason']})
        sealed_at = _case.utc_now()
        _case.append_custody(case_dir, 'seal', args['examiner'],
                             parameters={'signer': args['signer'], 'signing_key_fingerprint': fingerprint},
                             result={'hosts': {item['name']: item['status'] for item in statuses},
                                     'artifacts': len(artifacts)},
                             when=sealed_at)
        manifest = {
            'format': MANIFEST_FORMAT,
            'case_id': args['case_id'],
            'description': args['description'],
            'examiner': args['examiner'],
            'operator': _case.operator(),
            'tool': {'name': NAME, 'version': VERSION},
            'started_at': started_at,
            'ended_at': sealed_at,
            'signature': {'file': _case.SIGNATURE, 'format': 'SSHSIG', 'namespace': _sshsig.NAMESPACE,
                          'signer': args['signer'], 'public_key': public_key, 'fingerprint': fingerprint},
            'hosts': statuses,
            'summary': {
                'hosts': len(statuses),
                'hosts_collected': len([item for item in statuses if item['status'] == 'collected']),
                'hosts_partial': len([item for item in statuses if item['status'] == 'partial']),
                'hosts_failed': len([item for item in statuses if item['status'] == 'failed']),
                'artifacts': len(artifacts),
                'bytes': sum(item['size'] or 0 for item in artifacts),
            },
            'artifacts': artifacts,
            'files': _case.file_hashes(case_dir),
        }
        manifest_path = os.path.join(case_dir, _case.MANIFEST)
        _case.write_json(manifest_path, manifest)
        try:
            _sshsig.sign(args['signing_key'], manifest_path, args['signing_key_passphrase'])
        except _sshsig.SigningError:
            os.unlink(manifest_path)
            raise
        _case.write_sums(case_dir)
        result.update(changed=True, case_dir=case_dir, manifest=manifest_path, summary=manifest['summary'],
                      hosts={item['name']: item['status'] for item in statuses}, signer_fingerprint=fingerprint,
                      host_lines=[host_line(item) for item in statuses],
                      msg='case %s sealed: %d artifact(s) from %d host(s)' % (
                          args['case_id'], len(artifacts), len(statuses)))
        return result

    @staticmethod
    def _case_started_at(case_dir):
        try:
            with open(os.path.join(case_dir, _case.CUSTODY), 'r', encoding='utf-8') as handle:
                return json.loads(handle.readline()).get('when')
        except (OSError, ValueError):
            return None
