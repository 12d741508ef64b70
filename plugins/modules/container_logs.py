#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: dfir.docker contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: container_logs
short_description: Preserve container logs byte for byte, rotated files included
version_added: 0.1.0
description:
  - For each container, writes into O(evidence_dir) under C(containers/<full id>/logs/)
  - byte-exact copies of the C(json-file) log and each rotated file (C(<id>-json.log), C(.1), C(.2.gz), ...),
    live file first, then older ones; every file is opened before any is copied, so a rotation
    during collection cannot lose one.
  - the C(local) driver's files (C(local-logs/container.log) and its rotations) and the dual-logging
    cache C(container-cached.log) that Docker 20.10 and later keeps for remote drivers.
  - when live and O(api_logs) says so, the log as the Engine API serves it, with timestamps, in
    C(api-stdout.log) and C(api-stderr.log), or C(api-tty.log) for a container with a TTY.
  - Only the container's own directory of the Docker root is read for these files, which is where Docker writes
    them. A C(LogPath) in the container's config that names another place is not followed (on a mounted disk it
    would name a file of the examining machine); the container's entry says so in its notes.
  - When the log driver keeps nothing on disk (journald, syslog, gelf, none, ...), the container's
    entry says where the log went in C(logs_elsewhere); that is not an error.
author:
  - dfir.docker maintainers (@dfir-docker)
extends_documentation_fragment:
  - dfir.docker.common
  - dfir.docker.common.containers
  - dfir.docker.common.evidence
options:
  api_logs:
    description:
      - Whether to also collect the log through the Engine API, with timestamps, when the API is the source.
      - V(auto) asks the daemon only for a container whose log driver keeps nothing on disk that the module can
        copy (C(journald), or a remote driver such as C(syslog) or C(gelf) without its local cache). The files of
        C(json-file) and C(local), and the dual-logging cache, are copied byte for byte instead, and the daemon is
        not asked, since serving them changes the Docker root. For C(none) there is no log anywhere.
      - V(always) also asks the daemon when the files were copied. This changes state on the host; each request
        is listed in RV(state_changes). dockerd reads the log files, which moves their atime. For compressed
        rotations (C(compress=true)), dockerd 20.10 also writes decompressed temporary files
        (C(<id>-json.log.N.gz.tmp)) into the container's directory of the Docker root and deletes them again.
      - V(never) never asks the daemon for a log.
      - The booleans of earlier versions are still accepted, with a deprecation warning. V(true) means V(always)
        and V(false) means V(never).
    type: raw
    default: auto
attributes:
  check_mode:
    support: full
    description: In check mode, lists the log files it would copy and their sizes.
'''

EXAMPLES = r'''
- name: Preserve the logs of every container
  dfir.docker.container_logs:
    evidence_dir: /var/tmp/dfir/case-42
  become: true

- name: Logs of one container from a mounted disk image
  dfir.docker.container_logs:
    source: disk
    docker_root: /mnt/evidence/var/lib/docker
    containers: [festive_perlman]
    evidence_dir: /srv/staging/case-42
  become: true
'''

RETURN = r'''
artifacts:
  description: Every log artifact, with path, kind (container_log, container_log_local,
    container_log_cache, container_log_api), sha256, size, container_id, collected_at, source,
    and for copies the rotation number (0 = live file) and source_stat.
  returned: always
  type: list
  elements: dict
containers:
  description: One entry per requested container with id, name, log_driver, failed, msg,
    logs_on_disk, logs_elsewhere and its artifact paths.
  returned: always
  type: list
  elements: dict
errors:
  description: What failed, one message per problem.
  returned: always
  type: list
  elements: str
state_changes:
  description:
    - Each request for a log made to the daemon with O(api_logs=always), in order, with action
      (V(engine_api_log_read)), container_id, container_name, at (UTC), method, changed, ok and msg. The
      C(acquire) role writes each one to the custody log.
  returned: always
  type: list
  elements: dict
source:
  description: The source used.
  returned: success
  type: str
started_at:
  description: UTC ISO 8601.
  returned: always
  type: str
finished_at:
  description: UTC ISO 8601.
  returned: always
  type: str
'''

import os

from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.dfir.docker.plugins.module_utils._common import (
    DfirModule,
    containers_argument_spec,
    evidence_argument_spec,
    source_argument_spec,
)
from ansible_collections.dfir.docker.plugins.module_utils._engine_api import EngineAPIError, EngineNotFound, demultiplex
from ansible_collections.dfir.docker.plugins.module_utils._evidence import EvidenceError, planned
from ansible_collections.dfir.docker.plugins.module_utils._logs import log_files, recorded_log_elsewhere, where_logs_went
from ansible_collections.dfir.docker.plugins.module_utils._safe_io import describe_os_error, open_regular, utc_now


def collect_container(dfir, container_id, facts):
    target, evidence = dfir.target, dfir.evidence
    base = 'containers/%s/logs' % container_id
    outcome = {'id': container_id, 'name': facts.get('name'), 'log_driver': facts.get('log_driver'),
               'artifacts': [], 'notes': []}
    errors = []
    elsewhere = where_logs_went(facts.get('log_driver'))
    outcome['logs_elsewhere'] = elsewhere

    files = []
    if target.root is not None:
        container_dir = target.root.container_dir(container_id)
        files = log_files(container_dir, container_id)
        elsewhere_note = recorded_log_elsewhere(container_dir, facts.get('log_file'))
        if elsewhere_note:
            outcome['notes'].append(elsewhere_note)
    outcome['logs_on_disk'] = bool(files)

    if dfir.check_mode:
        for item in files:
            try:
                size = os.lstat(item['path']).st_size
            except OSError:
                size = None
            dfir.planned.append(planned('%s/%s' % (base, item['name']), item['kind'], size, container_id, item['path']))
            outcome['artifacts'].append('%s/%s' % (base, item['name']))
    else:
        # Open every file before copying any: a rotation renames them under us.
        opened = []
        for item in files:
            try:
                fd, st = open_regular(item['path'])
            except OSError as exc:
                errors.append('%s not collected: %s' % (item['path'], describe_os_error(exc)))
                continue
            opened.append((item, fd, st))
        try:
            for item, fd, st in opened:
                relpath = '%s/%s' % (base, item['name'])
                try:
                    record = evidence.copy_fd(fd, st, item['path'], relpath, item['kind'], container_id,
                                              {'rotation': item['rotation'], 'compressed': item['compressed']})
                    outcome['artifacts'].append(record['path'])
                except EvidenceError as exc:
                    errors.append(str(exc))
        finally:
            for _item, fd, _st in opened:
                os.close(fd)

    live = target.client is not None and facts.get('source') == 'api'
    if live and dfir.api_logs != 'never':
        reason = api_log_skip_reason(facts, files, target.root is not None, dfir.api_logs)
        if reason:
            outcome['notes'].append(reason)
        else:
            errors.extend(collect_api_logs(dfir, container_id, facts, base, outcome))
    if not files and not elsewhere and not live and target.root is not None:
        outcome['notes'].append('no log file found on disk for this container')
    if elsewhere:
        outcome['notes'].append(elsewhere)
    outcome['failed'] = bool(errors)
    outcome['msg'] = '; '.join(errors) if errors else 'collected'
    return outcome, errors


# The artifact kind of the live log file each file-keeping driver writes.
LIVE_LOG_KIND = {'json-file': 'container_log', 'local': 'container_log_local'}


API_LOGS = ('auto', 'always', 'never')


def api_logs_mode(value):
    """(mode, warning) for the api_logs option: auto, always or never; the booleans of earlier
    versions map to always and never, with a deprecation warning. Raises ValueError."""
    if isinstance(value, str) and value.strip().lower() in API_LOGS:
        return value.strip().lower(), None
    try:
        flag = boolean(value, strict=True)
    except TypeError:
        raise ValueError('api_logs must be one of %s, not %r' % (', '.join(API_LOGS), value))
    mode = 'always' if flag else 'never'
    return mode, ('api_logs=%s is deprecated: use api_logs=%s (the same), or auto, the default, which asks the '
                  'daemon only when the log driver keeps nothing on disk to copy' % (str(value).lower(), mode))


def api_log_skip_reason(facts, files, root_readable, mode='always'):
    """Why the daemon is not asked for this container's log; None when it is.

    To serve a log, dockerd opens the container's log file for appending and
    creates it when it is missing: asking for the log of a container that
    never started, or whose live log file is gone, would write evidence. It
    also reads the files (their atime moves) and decompresses rotated .gz files
    into temporary files beside them: with api_logs=auto it is asked only when
    there is no file here to copy.
    """
    if facts.get('log_driver') == 'none':
        return 'log driver none: the daemon has no log to serve, so the Engine API was not asked'
    if not facts.get('started_at'):
        return ('the container never started, so it has no log; the Engine API was not asked '
                '(dockerd would create an empty log file in the Docker root)')
    if mode == 'auto' and (files or (root_readable and facts.get('log_driver') in LIVE_LOG_KIND)):
        return ('the log files on disk were copied byte for byte; the Engine API was not asked (api_logs=auto), since '
                'serving them makes dockerd read them (their atime moves) and write temporary files for compressed '
                'rotations in the Docker root')
    driver = facts.get('log_driver')
    live_kind = LIVE_LOG_KIND.get(driver)
    if live_kind and root_readable and not any(item['kind'] == live_kind and item['rotation'] == 0 for item in files):
        return ('no live %s log file is on disk; the Engine API was not asked '
                '(dockerd would create an empty one in the Docker root)' % driver)
    return None


def collect_api_logs(dfir, container_id, facts, base, outcome):
    """The log as the daemon serves it, demultiplexed, with timestamps."""
    if dfir.check_mode:
        names = ['api-tty.log'] if facts.get('tty') else ['api-stdout.log', 'api-stderr.log']
        for name in names:
            dfir.planned.append(planned('%s/%s' % (base, name), 'container_log_api', None, container_id, 'api'))
            outcome['artifacts'].append('%s/%s' % (base, name))
        return []
    evidence = dfir.evidence
    change = None
    if dfir.api_logs == 'always':
        change = {'action': 'engine_api_log_read', 'container_id': container_id, 'container_name': facts.get('name'),
                  'at': utc_now(), 'method': 'GET /containers/%s/logs' % container_id, 'changed': True, 'ok': False,
                  'msg': 'asked dockerd for the log (api_logs=always): dockerd reads the log files, which moves their '
                         'atime, and writes decompressed temporary files beside compressed rotations in the Docker root'}
        dfir.state_changes.append(change)
    try:
        response = dfir.target.client.container_logs(container_id, timestamps=True)
    except EngineNotFound:
        return ['container %s no longer exists (removed during collection)' % container_id]
    except EngineAPIError as exc:
        outcome['notes'].append('the Engine API served no log: %s' % exc)
        return []
    if change is not None:
        change['ok'] = True
    extra = {'timestamps': True}
    try:
        with response:
            if facts.get('tty'):
                record = evidence.write_stream(base + '/api-tty.log', response.chunks(), 'container_log_api',
                                               container_id, 'api', extra)
                outcome['artifacts'].append(record['path'])
                return []
            with evidence.artifact(base + '/api-stdout.log', 'container_log_api', container_id, 'api',
                                   dict(extra, stream='stdout')) as stdout:
                with evidence.artifact(base + '/api-stderr.log', 'container_log_api', container_id, 'api',
                                       dict(extra, stream='stderr')) as stderr:
                    writers = {'stdout': stdout, 'stderr': stderr, 'stdin': stdout}
                    for stream, payload in demultiplex(response):
                        writers[stream].write(payload)
            outcome['artifacts'].extend([stdout.record['path'], stderr.record['path']])
    except (EngineAPIError, EvidenceError) as exc:
        return ['API log of %s not collected: %s' % (container_id, exc)]
    return []


def collect(dfir):
    try:
        dfir.api_logs, warning = api_logs_mode(dfir.params['api_logs'])
    except ValueError as exc:
        dfir.fail(str(exc))
    if warning:
        dfir.warnings.append(warning)
    dfir.state_changes = []
    target = dfir.open_target()
    dfir.open_evidence()
    dfir.planned = []
    ids, facts_by_id, selection_errors, _listing_errors = target.select(dfir.params['containers'])
    outcomes = []
    for requested, message in selection_errors:
        dfir.errors.append(message)
        outcomes.append({'requested': requested, 'failed': True, 'msg': message, 'artifacts': []})
    for container_id in ids:
        facts = facts_by_id.get(container_id)
        if facts is None or facts.get('config_error'):
            message = 'container %s: its config cannot be read, so its log driver is unknown' % container_id
            facts = {'id': container_id, 'source': 'disk'}
            if target.root is not None:
                facts['log_file'] = os.path.join(target.root.container_dir(container_id), '%s-json.log' % container_id)
            outcome, errors = collect_container(dfir, container_id, facts)
            outcome['notes'].append(message)
        else:
            outcome, errors = collect_container(dfir, container_id, facts)
        dfir.errors.extend('container %s: %s' % (container_id, error) for error in errors)
        outcomes.append(outcome)
    result = {'containers': outcomes, 'state_changes': dfir.state_changes}
    if dfir.check_mode:
        result['artifacts'] = dfir.planned
        dfir.finish(result, changed=bool(dfir.planned))
    dfir.finish(result)


def main():
    spec = source_argument_spec()
    spec.update(containers_argument_spec())
    spec.update(evidence_argument_spec())
    spec['api_logs'] = dict(type='raw', default='auto')
    DfirModule(spec).run(collect)


if __name__ == '__main__':
    main()
