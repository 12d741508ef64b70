#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: dfir.docker contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: container_changes
short_description: Count what each container changed in its filesystem, as the Docker daemon reports it
version_added: 0.1.0
description:
  - For each container, asks the daemon for the paths the container added, changed and deleted compared
    with its image (C(GET /containers/{id}/changes), what C(docker diff) shows), and returns the counts.
  - With O(evidence_dir), the daemon's answer is kept byte for byte as C(containers/<full id>/changes.json).
  - Meant for triage, to see at a glance which containers changed much. It needs the daemon; without one
    (V(disk), or V(auto) when no daemon answers) nothing is counted and each container says why.
  - The daemon computes the list by reading the container's writable layer itself, as C(docker diff) does;
    the directories it reads may get a new access time. A full acquisition reads the layers on its own,
    without changing access times.
author:
  - dfir.docker maintainers (@dfir-docker)
extends_documentation_fragment:
  - dfir.docker.common
  - dfir.docker.common.containers
options:
  evidence_dir:
    description: When set, write each container's C(changes.json) into this staging directory, hashed while written.
    type: path
attributes:
  check_mode:
    support: full
    description: Asks the daemon and returns the counts; in check mode nothing is written to O(evidence_dir).
'''

EXAMPLES = r'''
- name: Which containers changed the most?
  dfir.docker.container_changes:
  become: true
  register: changed_files

- name: Show them, most changes first
  ansible.builtin.debug:
    msg: "{{ changed_files.containers | selectattr('changes') | sort(attribute='changes.total', reverse=true)
             | map(attribute='name') | list }}"
'''

RETURN = r'''
containers:
  description: One entry per requested container.
  returned: always
  type: list
  elements: dict
  contains:
    id: {description: Full container id., type: str, returned: always}
    name: {description: Container name., type: str, returned: always}
    failed: {description: Whether the daemon could not answer for this container., type: bool, returned: always}
    msg: {description: What happened., type: str, returned: always}
    changes:
      description:
        - Counts of paths the container V(added), V(changed) and V(deleted), and their V(total);
          null when nothing could be counted.
      type: dict
      returned: always
    notes: {description: "Why nothing was counted, when so.", type: list, elements: str, returned: always}
    artifacts: {description: Paths of the artifacts written for this container., type: list, elements: str, returned: always}
artifacts:
  description: Artifacts written into O(evidence_dir) (kind C(container_changes)), or planned in check mode.
  returned: always
  type: list
  elements: dict
errors:
  description: What failed, one message per problem.
  returned: always
  type: list
  elements: str
'''

import json
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote

from ansible_collections.dfir.docker.plugins.module_utils._changes import count_changes
from ansible_collections.dfir.docker.plugins.module_utils._common import (
    DfirModule,
    containers_argument_spec,
    source_argument_spec,
)
from ansible_collections.dfir.docker.plugins.module_utils._engine_api import EngineAPIError, EngineNotFound
from ansible_collections.dfir.docker.plugins.module_utils._evidence import EvidenceError, planned

NO_DAEMON = 'the daemon is not being read (source %s), so its list of changes is not available'


# The daemon walks each writable layer to answer: a few requests at once keep both cores busy.
PARALLEL_REQUESTS = 4


def ask_daemon(client, container_id):
    """(raw answer, parsed entries, error message) of GET /containers/{id}/changes."""
    try:
        raw = client.get_raw('/containers/%s/changes' % quote(container_id, safe=''))
        return raw, json.loads(raw.decode('utf-8')) or [], None
    except EngineNotFound:
        return None, None, 'container %s no longer exists (removed during collection)' % container_id
    except (EngineAPIError, ValueError) as exc:
        return None, None, 'the daemon did not list the changes of %s: %s' % (container_id, exc)


def one_container(dfir, target, container_id, facts, answer):
    outcome = {'id': container_id, 'name': (facts or {}).get('name'), 'failed': False, 'msg': 'counted',
               'changes': None, 'notes': [], 'artifacts': []}
    if target.client is None:
        outcome.update(msg='not counted', notes=[NO_DAEMON % target.source])
        return outcome
    raw, entries, error = answer
    if error:
        outcome.update(failed=True, msg=error)
        return outcome
    outcome['changes'] = count_changes(entries)
    relpath = 'containers/%s/changes.json' % container_id
    if dfir.evidence is None:
        return outcome
    if dfir.check_mode:
        dfir.planned.append(planned(relpath, 'container_changes', len(raw), container_id, 'api'))
        return outcome
    try:
        dfir.evidence.write_bytes(relpath, raw, 'container_changes', container_id, 'api', {'counts': outcome['changes']})
        outcome['artifacts'].append(relpath)
    except EvidenceError as exc:
        outcome.update(failed=True, msg=str(exc))
    return outcome


def collect(dfir):
    target = dfir.open_target()
    dfir.planned = []
    if dfir.params['evidence_dir']:
        dfir.open_evidence()
    ids, facts_by_id, selection_errors, _listing_errors = target.select(dfir.params['containers'])
    outcomes = []
    for requested, message in selection_errors:
        dfir.errors.append(message)
        outcomes.append({'requested': requested, 'failed': True, 'msg': message, 'changes': None, 'notes': [],
                         'artifacts': []})
    answers = {}
    if target.client is not None and ids:
        with ThreadPoolExecutor(max_workers=PARALLEL_REQUESTS) as pool:
            answers = dict(zip(ids, pool.map(lambda container_id: ask_daemon(target.client, container_id), ids)))
    for container_id in ids:
        outcome = one_container(dfir, target, container_id, facts_by_id.get(container_id), answers.get(container_id))
        if outcome['failed']:
            dfir.errors.append('container %s: %s' % (container_id, outcome['msg']))
        outcomes.append(outcome)
    if target.client is None and ids:
        dfir.warnings.append(NO_DAEMON % target.source)
    result = {'containers': outcomes}
    if dfir.check_mode:
        result['artifacts'] = dfir.planned
        dfir.finish(result, changed=bool(dfir.planned))
    dfir.finish(result)


def main():
    spec = source_argument_spec()
    spec.update(containers_argument_spec())
    spec['evidence_dir'] = dict(type='path')
    DfirModule(spec).run(collect)


if __name__ == '__main__':
    main()
