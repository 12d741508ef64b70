#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: dfir.docker contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: process_memory
short_description: Dump the memory of container processes into ELF core files that gdb opens
version_added: 0.1.0
description:
  - For each process of each container (every process the container's cgroup holds, or those of
    O(host_pids)), writes into O(evidence_dir) under C(containers/<full id>/memory/)
  - C(<host pid>.core), an ELF core file of every readable memory region, read from
    C(/proc/<pid>/mem) in chunks and hashed while written, with the notes debuggers expect
    (NT_PRSTATUS per thread, NT_PRPSINFO, NT_AUXV, NT_FILE). C(gdb -c <host pid>.core) opens it.
  - C(<host pid>.maps), C(/proc/<pid>/maps) byte for byte as it was read for the dump.
  - C(memory.json), what each dump holds. Regions dumped, regions that could not be read (listed,
    never fatal), pages written as zeros because they failed while the process lived, threads.
  - A process that exits during its dump leaves no core. The partial file is removed, and the
    result says so. Zombies have no memory and are listed as skipped.
  - O(freeze=true) freezes the container's cgroup (as C(docker pause) does) for a consistent
    snapshot, and always thaws it afterwards, even on error or when the module is interrupted.
    A container that was already paused is left paused. Each freeze and thaw is returned in
    RV(state_changes) and written to the case's custody log by the C(acquire) role.
  - Nothing is executed in the container and nothing is written to the processes; reading faults
    the read pages into the process, as C(gcore) does.
author:
  - dfir.docker maintainers (@dfir-docker)
extends_documentation_fragment:
  - dfir.docker.common
  - dfir.docker.common.containers
  - dfir.docker.common.evidence
options:
  host_pids:
    description:
      - Dump only these processes, by host PID. Each must belong to one of the selected containers.
      - Empty means every process of each selected container.
    type: list
    elements: int
    default: []
  freeze:
    description: Freeze each container while its processes are dumped, then thaw it.
    type: bool
    default: false
  max_bytes:
    description:
      - Refuse to start when the dumps would be larger than this many bytes in all, before anything
        is written; raise it to dump more. Check mode reports the size. A negative value is refused.
    type: int
    default: 2147483648
  max_rate:
    description: Read at most this many bytes per second, to spare a busy host; V(0) means no limit; a negative value
      is refused.
    type: int
    default: 0
attributes:
  check_mode:
    support: full
    description: Reports the processes it would dump and the planned size; freezes nothing, writes nothing.
notes:
  - Core files are written for x86_64 and aarch64 hosts.
  - Registers in NT_PRSTATUS are what C(/proc/<tid>/syscall) tells of a thread blocked in the kernel
    (stack pointer, program counter, system call number and arguments); the others are zero.
  - PIDs and ids in the notes are the host's; the container PIDs are in RV(containers) and C(memory.json).
'''

EXAMPLES = r'''
- name: Dump the memory of every process of a suspicious container, frozen for consistency
  dfir.docker.process_memory:
    containers: [web]
    freeze: true
    evidence_dir: /var/tmp/dfir/case-42
  become: true

- name: How much would it be? (check mode)
  dfir.docker.process_memory:
    containers: [web]
    evidence_dir: /var/tmp/dfir/case-42
  check_mode: true
  become: true
  register: planned

- name: Only the process the EDR flagged, slowly
  dfir.docker.process_memory:
    containers: [web]
    host_pids: [48213]
    max_rate: 20000000
    evidence_dir: /var/tmp/dfir/case-42
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
    failed: {description: Whether something failed for this container., type: bool, returned: always}
    msg: {description: What happened., type: str, returned: always}
    processes:
      description:
        - One entry per process, with host_pid, container_pid, name, status (V(dumped), V(exited),
          V(skipped), V(failed)), msg, planned_bytes, and for a dump its core and maps paths, core_size,
          regions, regions_dumped, bytes_dumped, unreadable_regions, zero_filled, threads.
      type: list
      elements: dict
      returned: always
    freeze:
      description: The freeze and thaw of this container, when O(freeze=true).
      type: list
      elements: dict
      returned: always
state_changes:
  description:
    - Every change made to the host's state, in order, each with action (V(freeze) or V(thaw)),
      container_id, at (UTC), method, control_file, state_before, state_after, changed, ok and msg.
  returned: always
  type: list
  elements: dict
planned_bytes:
  description: The estimated size of all dumps, checked against O(max_bytes).
  returned: always
  type: int
artifacts:
  description: Artifacts written (kinds process_core, process_maps, process_memory_report), or planned in check mode.
  returned: always
  type: list
  elements: dict
errors:
  description: What failed, one message per problem.
  returned: always
  type: list
  elements: str
'''

import os
import signal

from ansible_collections.dfir.docker.plugins.module_utils._cgroup import (
    FreezeError,
    Freezer,
    ThawGuard,
    locate_freezer,
    parse_cgroup,
    parse_mountinfo,
)
from ansible_collections.dfir.docker.plugins.module_utils._common import (
    DfirModule,
    containers_argument_spec,
    evidence_argument_spec,
    source_argument_spec,
)
from ansible_collections.dfir.docker.plugins.module_utils._evidence import EvidenceError, planned
from ansible_collections.dfir.docker.plugins.module_utils._memory import (
    MemoryDump,
    ProcessExited,
    Throttle,
    UnsupportedArch,
    estimated_core_size,
    host_arch,
)
from ansible_collections.dfir.docker.plugins.module_utils._proc import Process, ProcessGone
from ansible_collections.dfir.docker.plugins.module_utils._process_map import ContainerView, HostProcesses
from ansible_collections.dfir.docker.plugins.module_utils._safe_io import describe_os_error, display_path, utc_now


class Interrupted(BaseException):
    """A signal arrived while a container may be frozen: unwind so that it is thawed."""


def _interrupt(signum, _frame):
    raise Interrupted('interrupted by signal %d' % signum)


class ContainerDump:
    """The processes of one container to dump, and what became of each."""

    def __init__(self, dfir, view):
        self.dfir = dfir
        self.view = view
        self.id = view.id
        self.base = 'containers/%s/memory' % view.id
        self.processes = []
        self.errors = []
        self.notes = list(view.notes)
        self.events = []
        self.artifacts = []
        self.guard = None

    def add(self, entry):
        ns_pids = entry['ns_pids']
        level = self.view.level
        self.processes.append({'host_pid': entry['pid'], 'start_ticks': entry['start_ticks'],
                               'container_pid': ns_pids[level] if len(ns_pids) > level else None,
                               'status': 'planned', 'msg': None})

    def plan(self):
        """Read each process's maps for the size; nothing is written."""
        total = 0
        for item in self.processes:
            try:
                with MemoryDump(item['host_pid'], item['start_ticks']) as dump:
                    item['name'] = display_path(dump.stat['comm'])
                    if dump.zombie:
                        item.update(status='skipped', msg='a zombie has no memory left to dump')
                        continue
                    item['planned_bytes'] = estimated_core_size(dump.regions)
                    total += item['planned_bytes']
            except ProcessGone:
                item.update(status='exited', msg='host PID %d ended before its dump' % item['host_pid'])
            except OSError as exc:
                item.update(status='failed', msg='maps of host PID %d not read: %s' % (item['host_pid'], describe_os_error(exc)))
                self.errors.append(item['msg'])
        return total

    def planned_records(self):
        records = []
        for item in self.processes:
            if item['status'] != 'planned':
                continue
            for suffix, kind in (('maps', 'process_maps'), ('core', 'process_core')):
                size = item['planned_bytes'] if suffix == 'core' else None
                records.append(planned('%s/%d.%s' % (self.base, item['host_pid'], suffix), kind, size, self.id, 'proc'))
        if records:
            records.append(planned(self.base + '/memory.json', 'process_memory_report', None, self.id))
        return records

    # -- the dump ----------------------------------------------------------

    def run(self, arch, budget, throttle):
        """Dump every planned process, frozen when asked; returns the bytes written."""
        freezer = None
        if not any(item['status'] == 'planned' for item in self.processes):
            if self.processes:
                self.write_report()
            return 0
        if self.dfir.params['freeze']:
            freezer = self.freeze()
        written = 0
        try:
            for item in self.processes:
                if item['status'] == 'planned':
                    written += self.dump_one(item, arch, budget - written, throttle)
        finally:
            if freezer is not None:
                self.thaw(freezer)
        self.write_report()
        return written

    def _event(self, action, freezer, **details):
        event = {'action': action, 'container_id': self.id, 'container_name': self.view.facts.get('name'),
                 'at': utc_now(), 'method': freezer.method if freezer else None,
                 'control_file': freezer.control_file if freezer else None}
        event.update(details)
        self.events.append(event)
        return event

    def freeze(self):
        """Freeze the container's cgroup; returns the freezer to thaw, or None when nothing was changed."""
        try:
            with Process(self.view.init['pid']) as init:
                cgroups = parse_cgroup(init.cgroup())
            with Process(os.getpid()) as this:
                mounts = parse_mountinfo(this.text('mountinfo'))
            freezer = Freezer(*locate_freezer(cgroups, mounts, self.id))
            before = freezer.state()
        except (OSError, FreezeError, ProcessGone) as exc:
            message = 'not frozen: %s; its memory is dumped while it runs' % exc
            self._event('freeze', None, changed=False, ok=False, msg=message, state_before=None, state_after=None)
            self.errors.append(message)
            return None
        if before != 'THAWED':
            self._event('freeze', freezer, changed=False, ok=True, state_before=before, state_after=before,
                        msg='already %s before this step (paused): not frozen again, and left so' % before.lower())
            return None
        # Before the freeze: from here on, the container is thawed even if this process is killed.
        self.guard = ThawGuard(freezer)
        try:
            after = freezer.freeze()
        except FreezeError as exc:
            message = 'freezing failed: %s; thawed again, its memory is dumped while it runs' % exc
            self._event('freeze', freezer, changed=True, ok=False, state_before=before, state_after=None, msg=message)
            self.errors.append(message)
            return freezer
        self._event('freeze', freezer, changed=True, ok=True, state_before=before, state_after=after,
                    msg='frozen for a consistent memory snapshot')
        return freezer

    def thaw(self, freezer):
        try:
            after = freezer.thaw()
        except FreezeError as exc:
            message = 'THAWING FAILED, the container may still be frozen: %s' % exc
            self._event('thaw', freezer, changed=True, ok=False, state_before=None, state_after=None, msg=message)
            self.errors.append(message)
            return
        finally:
            self.guard.release()
        self._event('thaw', freezer, changed=True, ok=True, state_before='FROZEN', state_after=after,
                    msg='thawed after the memory dump')

    def dump_one(self, item, arch, budget, throttle):
        pid = item['host_pid']
        evidence = self.dfir.evidence
        core_path = '%s/%d.core' % (self.base, pid)
        extra = {'host_pid': pid, 'container_pid': item['container_pid']}
        try:
            with MemoryDump(pid, item['start_ticks']) as dump:
                size = dump.prepare(arch)
                if size > budget:
                    item.update(status='failed', msg='its core of %d bytes would pass max_bytes (%d bytes left); '
                                                     'raise max_bytes to dump it' % (size, budget))
                    self.errors.append(item['msg'])
                    return 0
                maps = evidence.write_bytes('%s/%d.maps' % (self.base, pid), dump.maps_raw, 'process_maps', self.id,
                                            '/proc/%d/maps' % pid, extra)
                self.artifacts.append(maps['path'])
                item['maps'] = maps['path']
                writer = evidence.artifact(core_path, 'process_core', self.id, '/proc/%d/mem' % pid, extra)
                try:
                    with writer:
                        dump.stream(writer.write, throttle)
                except ProcessExited as exc:
                    item.update(status='exited', msg='%s: the partial core (%d bytes) was removed; the maps listing '
                                                     'read before the dump is kept' % (exc, writer.size))
                    self.notes.append(item['msg'])
                    self.dfir.warnings.append('container %s: %s' % (self.id, item['msg']))
                    return writer.size
                item.update(dump.report())
                item.update(status='dumped', core=writer.record['path'], core_size=writer.size, core_sha256=writer.record['sha256'],
                            msg='dumped')
                self.artifacts.append(writer.record['path'])
                return writer.size
        except ProcessExited as exc:
            item.update(status='exited', msg=str(exc))
        except ProcessGone:
            item.update(status='exited', msg='host PID %d ended before its dump' % pid)
        except EvidenceError as exc:
            item.update(status='failed', msg=str(exc))
            self.errors.append(item['msg'])
        except (OSError, ValueError) as exc:
            item.update(status='failed', msg='host PID %d: %s' % (pid, describe_os_error(exc) if isinstance(exc, OSError) else exc))
            self.errors.append(item['msg'])
        return 0

    def write_report(self):
        report = {'container_id': self.id, 'container_name': self.view.facts.get('name'), 'processes': self.processes,
                  'state_changes': self.events, 'notes': self.notes}
        try:
            record = self.dfir.evidence.write_json(self.base + '/memory.json', report, 'process_memory_report', self.id, 'proc')
            self.artifacts.append(record['path'])
        except EvidenceError as exc:
            self.errors.append(str(exc))

    def outcome(self):
        for item in self.processes:
            item.pop('start_ticks', None)
        return {'id': self.id, 'name': self.view.facts.get('name'), 'failed': bool(self.errors),
                'msg': '; '.join(self.errors) if self.errors else '%d of %d processes dumped' % (
                    len([item for item in self.processes if item['status'] == 'dumped']), len(self.processes)),
                'notes': self.notes, 'processes': self.processes, 'freeze': self.events, 'artifacts': self.artifacts}


def choose(dfir, host, views, selected):
    """The ContainerDump of each selected container; errors for host PIDs that are none of theirs."""
    dumps = []
    wanted = set(dfir.params['host_pids'])
    claimed = set()
    for container_id in selected:
        view = views[container_id]
        dump = ContainerDump(dfir, view)
        dumps.append(dump)
        if not view.running:
            dump.notes.append('not running: no process memory to dump')
            continue
        for entry in host.in_cgroup_of(container_id) or view.member_entries():
            if not wanted or entry['pid'] in wanted:
                dump.add(entry)
                claimed.add(entry['pid'])
    for pid in sorted(wanted - claimed):
        dfir.errors.append('host PID %d is not a process of the selected containers%s' % (
            pid, '' if host.get(pid) else ' (no such process)'))
    return dumps


def collect(dfir):
    target = dfir.open_target()
    dfir.open_evidence()
    try:
        arch = host_arch()
    except UnsupportedArch as exc:
        dfir.fail(str(exc))
    selected, facts_by_id, selection_errors, _listing_errors = target.select(dfir.params['containers'])
    refused = [{'requested': requested, 'failed': True, 'msg': message, 'artifacts': []}
               for requested, message in selection_errors]
    for container_id in selected:
        if container_id not in facts_by_id:
            refused.append({'id': container_id, 'failed': True, 'artifacts': [],
                            'msg': 'container %s: its config cannot be read' % container_id})
    dfir.errors.extend(item['msg'] for item in refused)
    host = HostProcesses(facts_by_id.keys())
    elsewhere = target.elsewhere()
    views = dict((container_id, ContainerView(facts, host, elsewhere)) for container_id, facts in facts_by_id.items())
    dumps = choose(dfir, host, views, [container_id for container_id in selected if container_id in views])
    total = sum(dump.plan() for dump in dumps)
    result = {'planned_bytes': total, 'state_changes': [], 'containers': refused}
    if total > dfir.params['max_bytes']:
        sizes = ', '.join('%s: %d bytes' % (dump.view.facts.get('name') or dump.id, sum(
            item.get('planned_bytes') or 0 for item in dump.processes)) for dump in dumps)
        dfir.fail('the memory dumps would take about %d bytes, more than max_bytes (%d): %s; raise max_bytes '
                  'or choose fewer containers or host_pids' % (total, dfir.params['max_bytes'], sizes),
                  planned_bytes=total, containers=refused + [dump.outcome() for dump in dumps])
    if dfir.check_mode:
        result['artifacts'] = [record for dump in dumps for record in dump.planned_records()]
        result['containers'].extend(dump.outcome() for dump in dumps)
        dfir.finish(result, changed=bool(result['artifacts']))
    free = _free_bytes(dfir.evidence.path)
    if free is not None and total > free:
        dfir.fail('the memory dumps would take about %d bytes, but the staging filesystem of %s has only %d free'
                  % (total, dfir.evidence.path, free), planned_bytes=total)

    throttle = Throttle(dfir.params['max_rate'])
    budget = dfir.params['max_bytes']
    previous = dict((signum, signal.signal(signum, _interrupt)) for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT))
    try:
        for dump in dumps:
            try:
                budget -= dump.run(arch, budget, throttle)
            finally:
                result['state_changes'].extend(dump.events)
    except Interrupted as exc:
        dfir.fail('%s; every container frozen by this step was thawed' % exc, state_changes=result['state_changes'])
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    result['containers'].extend(dump.outcome() for dump in dumps)
    for dump in dumps:
        dfir.errors.extend('container %s: %s' % (dump.id, error) for error in dump.errors)
    dfir.finish(result)


def _free_bytes(path):
    try:
        fs = os.statvfs(path)
    except OSError:
        return None
    return fs.f_bavail * fs.f_frsize


def main():
    spec = source_argument_spec()
    spec.update(containers_argument_spec())
    spec.update(evidence_argument_spec())
    spec.update(
        host_pids=dict(type='list', elements='int', default=[]),
        freeze=dict(type='bool', default=False),
        max_bytes=dict(type='int', default=2147483648),
        max_rate=dict(type='int', default=0),
    )
    DfirModule(spec).run(collect)


if __name__ == '__main__':
    main()
