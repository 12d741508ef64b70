#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: dfir.docker contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: process_map
short_description: Every process of a container with its PIDs and user ids on the host and inside, both ways
version_added: 0.1.0
description:
  - For each container, lists every process of its PID namespace and of its cgroup, read from the
    host's C(/proc), not from C(docker top); zombies and processes that left the container's cgroup
    are included.
  - For each process, the host PID and the container PID (from C(NSpid)), the parent PID on both
    sides, real/effective/saved/filesystem UID and GID on the host and inside the container (through
    the process's C(uid_map)/C(gid_map)), the user and group names from the container's own
    C(/etc/passwd) and C(/etc/group) (read beneath the container's root, never the host's files),
    the raw command line, the executable, working directory and root as the process sees them
    (read with readlink, never followed; a deleted executable is flagged), state, start time in UTC,
    and the inode of each namespace with whether it is shared with the host or another container.
  - A container started with C(--pid=host) has its processes found by cgroup, and its container PIDs
    are host PIDs; with C(--pid=container:<other>), both containers list the processes of the shared
    namespace, each marked with the container it belongs to (by cgroup).
  - A paused container is read as it is, without unpausing; a stopped one reports its last state
    and no processes.
  - O(host_pids) answers the reverse question (from an EDR alert, a host log) for any host PID, which
    container it belongs to, its container PID and ids there, or that it is a process of the host.
    O(container_pids) goes the other way, from a PID a container's logs name to the host PID.
  - The host-level report (C(userns.json) with O(evidence_dir)) holds the daemon's C(userns-remap)
    setting and where it was set, the remap user's ranges in C(/etc/subuid) and C(/etc/subgid), the
    resulting map, a rootless daemon's own map, and O(ids) looked up both ways.
  - Reads only. Writes artifacts only into O(evidence_dir) when it is given.
author:
  - dfir.docker maintainers (@dfir-docker)
extends_documentation_fragment:
  - dfir.docker.common
  - dfir.docker.common.containers
options:
  evidence_dir:
    description:
      - When set, write C(userns.json), C(containers/<id>/processes.json) for each container, and
        C(process_lookup.json) when lookups were asked, into this staging directory, hashed while written.
      - Refused before anything is created when it is, or would be once created, inside a Docker root (the
        O(docker_root) given or read, the live daemon's C(DockerRootDir), C(/var/lib/docker), or the root that holds
        a user-namespace-remapped one; symlinks resolved, bind mounts of a root recognised). The error names both paths.
    type: path
  host_pids:
    description: Host PIDs to place, in a container or on the host. Considers every container of the engine.
    type: list
    elements: int
    default: []
  container_pids:
    description: PIDs as a container sees them, to find on the host.
    type: list
    elements: dict
    default: []
    suboptions:
      container:
        description: The container, by id, unique id prefix or name.
        type: str
        required: true
      pid:
        description: The PID inside that container.
        type: int
        required: true
  ids:
    description:
      - User and group ids to look up both ways, through the daemon's remap (or rootless) map in RV(userns),
        and through each running container's own uid and gid maps in its C(id_lookup).
      - Each answer gives C(inside_to_host) (a container id seen on the host) and C(host_to_inside)
        (a host id seen in the container); null where the id is not mapped.
    type: list
    elements: int
    default: []
  subuid_file:
    description:
      - The subordinate user id file of the Docker host.
      - By default C(/etc/subuid) when the Docker root is this machine's (read live, or on disk where its daemon kept
        it); C(<image>/etc/subuid) for a root read at C(<image>/var/lib/docker) of a mounted disk image; and not read
        at all, with the reason in the report, when the root is a copy whose host files are not reachable, so that
        this machine's file is never reported as the suspect's.
    type: path
  subgid_file:
    description: The subordinate group id file of the Docker host, found as O(subuid_file) is.
    type: path
attributes:
  check_mode:
    support: full
    description: Reads everything and returns it; in check mode nothing is written to O(evidence_dir).
notes:
  - Processes are read from the C(/proc) of the host the module runs on. In V(disk) mode on a Docker root that is
    not this machine's (a mounted disk image or a copy, whose daemon recorded another path than the one read), the
    recorded PIDs are not looked up at all and each container's notes say so. On this machine's own root (a
    stopped daemon), each recorded PID is checked against its cgroup before it is taken for the container's.
  - Start times are the host's boot time plus the process's start tick; the boot time is known to the
    second, so start times are exact to about one second.
'''

EXAMPLES = r'''
- name: Map the processes of every running container
  dfir.docker.process_map:
    evidence_dir: /var/tmp/dfir/case-42
  become: true
  register: processes

- name: Which container is host PID 48213 (from the EDR alert) in, and who is it there?
  dfir.docker.process_map:
    host_pids: [48213]
  become: true
  register: where

- name: Show the answer
  ansible.builtin.debug:
    msg: "{{ where.lookups[0].msg }}, running as {{ where.lookups[0].container_user_names.effective }}"

- name: The web container's log names PID 7; which host process is that?
  dfir.docker.process_map:
    containers: [web]
    container_pids:
      - container: web
        pid: 7
  become: true
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
    running: {description: Whether processes were read (the first process was found and verified)., type: bool, returned: always}
    paused: {description: Whether the engine reports it paused., type: bool, returned: always}
    pid_mode: {description: "Its C(--pid) mode: null, V(host), or V(container:<other>).", type: str, returned: always}
    host_pid: {description: Host PID of its first process., type: int, returned: always}
    namespaces:
      description: Each namespace of its first process with inode, shared_with_host and shared_with_containers.
      type: dict
      returned: always
    uid_map: {description: "Its user namespace's uid map: [{inside, outside, count}].", type: list, returned: always}
    gid_map: {description: "Its gid map, the same way.", type: list, returned: always}
    id_lookup:
      description: Each of O(ids) both ways through its uid and gid maps (id, uid, gid; inside_to_host, host_to_inside).
      type: list
      elements: dict
      returned: when O(ids) is given and the container runs
    processes:
      description:
        - Every process it can see, ascending by host PID, each with host_pid, container_pid, ns_pids, host_ppid,
          container_ppid, container_id and container_name (the container it belongs to), placed_by
          (V(cgroup), V(parent) or V(pid_namespace)), name, state, state_name, zombie, threads, start_time,
          host_uids, host_gids, container_uids, container_gids (each real, effective, saved, fs),
          container_user_names, container_group_names, host_user_names, host_group_names, host_groups,
          container_groups, cmdline, cmdline_raw, exe, exe_deleted, cwd, root, namespaces and cgroups.
        - An id with no mapping in the container's user namespace is null (the container sees the overflow id).
      type: list
      elements: dict
      returned: always
    notes:
      description: What a responder should know (stopped, shared namespaces, names unknown).
      type: list
      elements: str
      returned: always
lookups:
  description: One answer per O(host_pids) and O(container_pids) entry, with found, belongs_to (V(container) or
    V(host)), msg, and the process record as in RV(containers.processes).
  returned: always
  type: list
  elements: dict
userns:
  description: The daemon's user-namespace setup (userns_remap, rootless, daemon, subuid_file, subgid_file,
    id_lookup, notes).
  returned: always
  type: dict
host:
  description: boot_time (UTC), clock_ticks per second and the host's namespace inodes.
  returned: always
  type: dict
artifacts:
  description: Artifacts written into O(evidence_dir) (kinds process_map, userns_map, process_lookup).
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

from ansible_collections.dfir.docker.plugins.module_utils._common import (
    DfirModule,
    containers_argument_spec,
    source_argument_spec,
)
from ansible_collections.dfir.docker.plugins.module_utils._evidence import EvidenceError, planned
from ansible_collections.dfir.docker.plugins.module_utils._process_map import (
    ContainerView,
    HostAccounts,
    HostProcesses,
    ProcessDescriber,
    container_record,
    lookup_container_pid,
    lookup_host_pid,
)
from ansible_collections.dfir.docker.plugins.module_utils._safe_io import utc_from_timestamp
from ansible_collections.dfir.docker.plugins.module_utils._selection import SelectionError, resolve_one
from ansible_collections.dfir.docker.plugins.module_utils._userns import UsernsReport


def write_json(dfir, relpath, document, kind, container_id=None):
    """Write one JSON artifact (or plan it in check mode); a failure is this module's error."""
    if dfir.evidence is None:
        return None
    data = json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False).encode('utf-8') + b'\n'
    if dfir.check_mode:
        dfir.planned.append(planned(relpath, kind, len(data), container_id, 'proc'))
        return relpath
    try:
        return dfir.evidence.write_bytes(relpath, data, kind, container_id, 'proc')['path']
    except EvidenceError as exc:
        dfir.errors.append(str(exc))
        return None


def lookups(dfir, host, views, describer, facts_by_id):
    answers = [lookup_host_pid(pid, host, describer) for pid in dfir.params['host_pids']]
    refs = [(item['id'], item.get('name')) for item in facts_by_id.values()]
    for wanted in dfir.params['container_pids']:
        try:
            container_id = resolve_one(wanted['container'], refs)
        except SelectionError as exc:
            answers.append({'container': wanted['container'], 'container_pid': wanted['pid'], 'found': False, 'msg': str(exc)})
            continue
        answers.append(lookup_container_pid(views[container_id], wanted['pid'], describer))
    for answer in answers:
        if not answer['found']:
            dfir.warnings.append(answer['msg'])
    return answers


def collect(dfir):
    target = dfir.open_target()
    dfir.planned = []
    if dfir.params['evidence_dir']:
        dfir.open_evidence()
    selected, facts_by_id, selection_errors, listing_errors = target.select(dfir.params['containers'])
    for _container_id, message in listing_errors:
        dfir.warnings.append(message)
    host = HostProcesses(facts_by_id.keys())
    accounts = HostAccounts()
    dfir.warnings.extend(accounts.notes)
    elsewhere = target.elsewhere()
    views = dict((container_id, ContainerView(facts, host, elsewhere)) for container_id, facts in facts_by_id.items())
    describer = ProcessDescriber(host, views, accounts)

    engine = target.engine()
    # the subordinate id files of the Docker root's own host: a mounted image's, never this machine's instead
    subuid_file, why_not = dfir.params['subuid_file'], None
    subgid_file = dfir.params['subgid_file']
    if subuid_file is None:
        subuid_file, why_not = target.host_path('/etc/subuid')
    if subgid_file is None:
        subgid_file, why_not = target.host_path('/etc/subgid')
    userns = UsernsReport(engine, dfir.params['docker_host'], target.docker_root, target.daemon_config(), accounts,
                          host.host_ns, subuid_file, subgid_file, live=target.client is not None,
                          subid_why_not=why_not).as_dict(dfir.params['ids'])
    write_json(dfir, 'userns.json', userns, 'userns_map')

    outcomes = []
    for requested, message in selection_errors:
        dfir.errors.append(message)
        outcomes.append({'requested': requested, 'failed': True, 'msg': message, 'artifacts': []})
    for container_id in selected:
        view = views.get(container_id)
        if view is None:
            message = 'container %s: its config cannot be read, so its processes cannot be placed' % container_id
            dfir.errors.append(message)
            outcomes.append({'id': container_id, 'failed': True, 'msg': message, 'artifacts': []})
            continue
        record, notes = container_record(view, describer, dfir.params['ids'])
        record['notes'] = notes
        record['collected_at'] = dfir.started_at
        path = write_json(dfir, 'containers/%s/processes.json' % container_id, record, 'process_map', container_id)
        failed = dfir.evidence is not None and path is None
        record.update(failed=failed, artifacts=[path] if path else [],
                      msg='not written: see errors' if failed else '%d processes' % len(record['processes']))
        outcomes.append(record)

    answers = []
    if dfir.params['host_pids'] or dfir.params['container_pids']:
        answers = lookups(dfir, host, views, describer, facts_by_id)
        write_json(dfir, 'process_lookup.json', answers, 'process_lookup')

    result = {
        'containers': outcomes,
        'lookups': answers,
        'userns': userns,
        'host': {'boot_time': utc_from_timestamp(host.boot_time) if host.boot_time else None,
                 'clock_ticks': host.ticks, 'namespaces': host.host_ns},
    }
    if dfir.check_mode:
        result['artifacts'] = dfir.planned
        dfir.finish(result, changed=bool(dfir.planned))
    dfir.finish(result)


def main():
    spec = source_argument_spec()
    spec.update(containers_argument_spec())
    spec.update(
        evidence_dir=dict(type='path'),
        host_pids=dict(type='list', elements='int', default=[]),
        container_pids=dict(type='list', elements='dict', default=[], options=dict(
            container=dict(type='str', required=True),
            pid=dict(type='int', required=True),
        )),
        ids=dict(type='list', elements='int', default=[]),
        subuid_file=dict(type='path'),
        subgid_file=dict(type='path'),
    )
    DfirModule(spec).run(collect)


if __name__ == '__main__':
    main()
