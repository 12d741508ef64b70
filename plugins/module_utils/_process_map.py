# -*- coding: utf-8 -*-
# Copyright: dfir.docker contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every process of a container, from the host's /proc, with PIDs and ids on both sides.

Private to the collection; standard library only.

`HostProcesses` reads every process of the host once: its PIDs in each PID
namespace (NSpid), its PID namespace, its cgroups and start tick.  A process
belongs to a container when one of its cgroup paths names the container's id
(that is how Docker names cgroups); a zombie that has left its cgroup (cgroup
v1) belongs to its parent's container; a process found only by PID namespace
belongs to the container whose namespace it is.  A container's process list
is every process of its PID namespace (unless that is the host's, with
``--pid=host``) and every process of its cgroup, each marked with the
container it belongs to, so a ``--pid=container:<other>`` sibling's processes
show up in both lists, owned by the sibling.

`ContainerView` is one running container: its first process, verified by
cgroup (a recorded PID may have been reused), its namespaces, its id maps,
and the user and group names of its own ``/etc/passwd`` and ``/etc/group``,
read beneath its root (``/proc/<pid>/root``) with `open_beneath`.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import calendar
import errno
import os
import re
import time

from ansible_collections.dfir.docker.plugins.module_utils._cgroup import container_ids_in, parse_cgroup
from ansible_collections.dfir.docker.plugins.module_utils._idmap import IdMapError, both_ways, parse_id_map, to_inside
from ansible_collections.dfir.docker.plugins.module_utils._proc import (
    PROC,
    STATE_NAMES,
    Process,
    ProcessGone,
    boot_time,
    clock_ticks,
    host_namespaces,
    id_quad,
    int_list,
    list_pids,
    parse_ns_link,
    split_cmdline,
    start_time,
)
from ansible_collections.dfir.docker.plugins.module_utils._safe_io import (
    O_CLOEXEC,
    O_DIRECTORY,
    O_PATH,
    describe_os_error,
    display_path,
    read_small,
    read_small_beneath,
)

# A container's first process may have started this long before or after the
# StartedAt the daemon recorded (runc starts it before Docker writes the time).
START_TOLERANCE_SECONDS = 5
_DOCKER_TIME = re.compile(r'^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$')


def docker_time_to_epoch(value):
    """'2026-12-03T16:29:01.123456789Z' -> seconds since the epoch (float); None when unparsable."""
    match = _DOCKER_TIME.match(value or '')
    if not match:
        return None
    seconds = calendar.timegm(time.strptime(match.group(1), '%Y-%m-%dT%H:%M:%S'))
    if match.group(2):
        seconds += float('0' + match.group(2))
    zone = match.group(3)
    if zone != 'Z':
        sign = 1 if zone[0] == '+' else -1
        seconds -= sign * (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60)
    return seconds


def parse_accounts(text):
    """/etc/passwd or /etc/group text -> {id: first name with that id}."""
    names = {}
    for line in text.splitlines():
        fields = line.split(':')
        if len(fields) < 3 or line.startswith(('#', '+', '-')):
            continue
        try:
            number = int(fields[2])
        except ValueError:
            continue
        names.setdefault(number, display_path(fields[0]))
    return names


def names_of(ids, names):
    """{real: name, ...} for the ids of an id quad; None where unknown."""
    if names is None:
        return None
    return dict((key, names.get(value) if value is not None else None) for key, value in ids.items())


def map_quad(ids, ranges):
    return dict((key, to_inside(value, ranges) if value is not None else None) for key, value in ids.items())


def _unless_denied(read, what, denied, default):
    """A read the kernel may refuse even to root (a non-dumpable or protected process)."""
    try:
        return read()
    except OSError as exc:
        if exc.errno not in (errno.EACCES, errno.EPERM):
            raise
        denied.append(what)
        return default


class HostAccounts:
    """User and group names of the host (/etc/passwd, /etc/group), for host ids."""

    def __init__(self, passwd='/etc/passwd', group='/etc/group'):
        self.notes = []
        self.users = self._read(passwd)
        self.groups = self._read(group)

    def _read(self, path):
        try:
            return parse_accounts(read_small(path, 64 * 1024 * 1024).decode('utf-8', 'surrogateescape'))
        except OSError as exc:
            self.notes.append('host names unknown: %s' % describe_os_error(exc))
            return None


class HostProcesses:
    """Every process of the host, read once, placed in containers."""

    def __init__(self, known_container_ids, proc=PROC):
        self.proc = proc
        self.known = set(known_container_ids)
        self.boot_time = boot_time(proc)
        self.ticks = clock_ticks()
        self.host_ns = host_namespaces(proc)
        self.entries = {}
        for pid in list_pids(proc):
            entry = self.scan(pid)
            if entry is not None:
                self.entries[pid] = entry

    def scan(self, pid):
        """The little needed to place one process; None when it is gone."""
        try:
            with Process(pid, self.proc) as process:
                status = process.status()
                stat = process.stat()
                cgroups = parse_cgroup(process.cgroup())
                link = _unless_denied(lambda: process.readlink('ns/pid'), 'ns/pid', [], None)
        except ProcessGone:
            return None
        return {
            'pid': pid,
            'tgid': int(status.get('Tgid') or pid),
            'ns_pids': int_list(status.get('NSpid')) or [pid],
            'ppid': stat['ppid'],
            'state': stat['state'],
            'start_ticks': stat['start_ticks'],
            'pid_ns': parse_ns_link(link) if link else None,
            'cgroups': cgroups,
            'containers': container_ids_in(cgroups, self.known),
        }

    def get(self, pid):
        """A process of the snapshot, or one that started since; None when there is none."""
        entry = self.entries.get(pid)
        if entry is None:
            entry = self.scan(pid)
            if entry is not None:
                self.entries[pid] = entry
        return entry

    def start_time(self, entry):
        return start_time(entry['start_ticks'], self.boot_time, self.ticks)

    def owner(self, entry, pid_ns_owners):
        """(container id or None, how it was decided) for one process."""
        if entry['containers']:
            # The deepest id in the path: a container nested in another names both.
            return entry['containers'][-1], 'cgroup'
        seen = set()
        parent = self.entries.get(entry['ppid'])
        while parent is not None and parent['pid'] not in seen and parent['pid_ns'] == entry['pid_ns']:
            seen.add(parent['pid'])
            if parent['containers']:
                return parent['containers'][-1], 'parent'
            parent = self.entries.get(parent['ppid'])
        if entry['pid_ns'] is not None and entry['pid_ns'] != self.host_ns.get('pid'):
            owners = pid_ns_owners.get(entry['pid_ns']) or []
            if len(owners) == 1:
                return owners[0], 'pid_namespace'
        return None, None

    def in_pid_namespace(self, pid_ns):
        return [entry for entry in self.entries.values() if entry['pid_ns'] == pid_ns]

    def in_cgroup_of(self, container_id):
        return [entry for entry in self.entries.values() if container_id in entry['containers']]


class ContainerView:
    """One container as the host's /proc shows it."""

    def __init__(self, facts, host, elsewhere=None):
        """elsewhere: why the container's processes are not this machine's (a Docker root from another
        host), so its recorded PID is not looked up here; None when they are."""
        self.facts = facts
        self.id = facts['id']
        self.host = host
        self.notes = []
        self.init = None
        self.namespaces = {}
        self.uid_map = self.gid_map = None
        self.users = self.groups = None
        self._member_pids = None
        pid = facts.get('pid') if facts.get('running') else None
        if pid and elsewhere:
            # the recorded PID is one of another machine's: this machine's process of that number is not it
            self.notes.append('recorded as running with host PID %s, but %s: no process is read from this '
                              'machine\'s /proc' % (pid, elsewhere))
        elif pid:
            self.init = self._verified_init(int(pid))
        if self.init is not None:
            self._read_init()

    @property
    def running(self):
        return self.init is not None

    @property
    def level(self):
        """Index in NSpid of the PIDs as this container sees them."""
        return len(self.init['ns_pids']) - 1

    def _verified_init(self, pid):
        entry = self.host.get(pid)
        if entry is None:
            self.notes.append('its first process, host PID %d, is gone: the container stopped before it was read' % pid)
            return None
        if self.id in entry['containers']:
            return entry
        started = docker_time_to_epoch(self.facts.get('started_at'))
        begun = self.host.boot_time + entry['start_ticks'] / float(self.host.ticks) if self.host.boot_time else None
        if not entry['containers'] and started is not None and begun is not None \
                and abs(begun - started) <= START_TOLERANCE_SECONDS:
            self.notes.append('its first process has no cgroup of its own; placed by its start time')
            return entry
        self.notes.append('host PID %d, recorded as its first process, is not this container\'s process '
                          '(the PID was reused, or the Docker root is not this host\'s): no processes read' % pid)
        return None

    def _read_init(self):
        pid = self.init['pid']
        try:
            with Process(pid, self.host.proc) as process:
                self.namespaces = process.namespaces()
                self.uid_map = parse_id_map(process.text('uid_map'))
                self.gid_map = parse_id_map(process.text('gid_map'))
        except ProcessGone:
            self.notes.append('its first process, host PID %d, ended while being read: the container stopped' % pid)
            self.init = None
            return
        except IdMapError as exc:
            self.notes.append('id map of host PID %d: %s' % (pid, exc))
        self.users, self.groups = self._accounts(pid)

    def _accounts(self, pid):
        """Names from the container's own /etc/passwd and /etc/group, never the host's."""
        try:
            root_fd = os.open(os.path.join(self.host.proc, str(pid), 'root'), O_PATH | O_DIRECTORY | O_CLOEXEC)
        except OSError as exc:
            self.notes.append('the container root cannot be opened through host PID %d: %s; user and group '
                              'names unknown' % (pid, exc.strerror))
            return None, None
        try:
            found = []
            for path in ('/etc/passwd', '/etc/group'):
                try:
                    text = read_small_beneath(root_fd, path, 64 * 1024 * 1024).decode('utf-8', 'surrogateescape')
                    found.append(parse_accounts(text))
                except OSError as exc:
                    reason = 'it has none' if exc.errno == errno.ENOENT else exc.strerror
                    self.notes.append('%s of the container not read (%s): %s names unknown' % (
                        path, reason, 'user' if path.endswith('passwd') else 'group'))
                    found.append(None)
            return found[0], found[1]
        finally:
            os.close(root_fd)

    def member_entries(self):
        """Processes of its PID namespace (unless it is the host's) and of its cgroup."""
        if self.init is None:
            return []
        chosen = dict((entry['pid'], entry) for entry in self.host.in_cgroup_of(self.id))
        if self.init['pid_ns'] != self.host.host_ns.get('pid'):
            for entry in self.host.in_pid_namespace(self.init['pid_ns']):
                chosen.setdefault(entry['pid'], entry)
        return [chosen[pid] for pid in sorted(chosen)]

    def member_pids(self):
        if self._member_pids is None:
            self._member_pids = set(entry['pid'] for entry in self.member_entries())
        return self._member_pids


class ProcessDescriber:
    """Turns host processes into records, relative to the container that lists them."""

    def __init__(self, host, views, host_accounts):
        self.host = host
        self.views = views
        self.host_accounts = host_accounts
        self.ns_owners = {}
        for view in views.values():
            for kind, inode in view.namespaces.items():
                self.ns_owners.setdefault((kind, inode), []).append(view.id)
        self.pid_ns_owners = {}
        for view in views.values():
            if view.running and not (view.facts.get('pid_mode') or '').startswith(('container:', 'host')):
                self.pid_ns_owners.setdefault(view.init['pid_ns'], []).append(view.id)

    def namespace_record(self, namespaces, own_id):
        record = {}
        for kind, inode in sorted(namespaces.items()):
            with_host = inode == self.host.host_ns.get(kind)
            # Every container that shares the host's namespace shares it with each other: not repeated.
            others = [] if with_host else [cid for cid in self.ns_owners.get((kind, inode), []) if cid != own_id]
            record[kind] = {'inode': inode, 'shared_with_host': with_host, 'shared_with_containers': others}
        return record

    def describe(self, entry, listing=None):
        """A full record of one process; raises ProcessGone when it ends (or its PID is reused) meanwhile."""
        owner_id, owner_by = self.host.owner(entry, self.pid_ns_owners)
        owner = self.views.get(owner_id)
        listing = listing or owner
        with Process(entry['pid'], self.host.proc) as process:
            stat = process.stat()
            if stat['start_ticks'] != entry['start_ticks']:
                # The PID was reused since the snapshot: not the process we placed.
                raise ProcessGone(entry['pid'], 'state')
            status = process.status()
            denied = []
            cmdline = _unless_denied(lambda: process.read('cmdline', 1024 * 1024), 'cmdline', denied, b'')
            exe, exe_deleted = _unless_denied(lambda: process.magic_link('exe'), 'exe', denied, (None, False))
            cwd, _cwd_deleted = _unless_denied(lambda: process.magic_link('cwd'), 'cwd', denied, (None, False))
            root, _root_deleted = _unless_denied(lambda: process.magic_link('root'), 'root', denied, (None, False))
            namespaces = process.namespaces()
            uid_map = parse_id_map(process.text('uid_map'))
            gid_map = parse_id_map(process.text('gid_map'))
            if stat['state'] != 'Z' and process.stat()['state'] in ('Z', 'X', 'x'):
                # It died half way: what was read is a mix of the living and the dead process.
                raise ProcessGone(entry['pid'], 'state')
        record = self._record(entry, owner_id, owner_by, owner, listing, status, stat, cmdline, exe, exe_deleted,
                              cwd, root, namespaces, uid_map, gid_map)
        if denied:
            record.setdefault('notes', []).append('the kernel refused to show %s (permission denied)' % ', '.join(denied))
        return record

    def _record(self, entry, owner_id, owner_by, owner, listing, status, stat, cmdline, exe, exe_deleted, cwd, root,
                namespaces, uid_map, gid_map):
        level = listing.level if listing is not None and listing.running else None
        ns_pids = entry['ns_pids']
        host_uids, host_gids = id_quad(int_list(status.get('Uid'))), id_quad(int_list(status.get('Gid')))
        # A zombie has released its credentials' namespace: map it through its container's.
        if not uid_map and owner is not None and owner.uid_map:
            uid_map, gid_map = owner.uid_map, owner.gid_map
        container_uids, container_gids = map_quad(host_uids, uid_map), map_quad(host_gids, gid_map)
        groups = int_list(status.get('Groups'))
        record = {
            'host_pid': entry['pid'],
            'container_pid': ns_pids[level] if level is not None and len(ns_pids) > level else None,
            'ns_pids': ns_pids,
            'host_ppid': stat['ppid'],
            'container_ppid': self._container_ppid(entry, listing),
            'container_id': owner_id,
            'container_name': owner.facts.get('name') if owner is not None else None,
            'placed_by': owner_by,
            'name': display_path(stat['comm']),
            'state': stat['state'],
            'state_name': STATE_NAMES.get(stat['state'], 'unknown'),
            'zombie': stat['state'] == 'Z',
            'threads': int(status.get('Threads') or 0) or None,
            'start_time': self.host.start_time(entry),
            'start_ticks': entry['start_ticks'],
            'host_uids': host_uids,
            'host_gids': host_gids,
            'host_groups': groups,
            'container_uids': container_uids,
            'container_gids': container_gids,
            'container_groups': [to_inside(gid, gid_map) for gid in groups],
            'container_user_names': names_of(container_uids, owner.users if owner is not None else None),
            'container_group_names': names_of(container_gids, owner.groups if owner is not None else None),
            'host_user_names': names_of(host_uids, self.host_accounts.users),
            'host_group_names': names_of(host_gids, self.host_accounts.groups),
            'cmdline': split_cmdline(cmdline),
            'cmdline_raw': display_path(cmdline),
            'exe': exe,
            'exe_deleted': exe_deleted,
            'cwd': cwd,
            'root': root,
            'namespaces': self.namespace_record(namespaces, owner_id),
            'cgroups': ['%s:%s:%s' % (item['hierarchy'], item['controllers'], item['path']) for item in entry['cgroups']],
        }
        if owner is not None and owner.namespaces.get('user') != namespaces.get('user') and namespaces.get('user'):
            record['uid_map'], record['gid_map'] = uid_map, gid_map
            record['notes'] = ['in a user namespace of its own: container ids are mapped through its own id map']
        return record

    def _container_ppid(self, entry, listing):
        """The parent PID the process sees in the listing container: 0 when its parent is outside."""
        if listing is None or not listing.running:
            return None
        if listing.init['pid_ns'] == self.host.host_ns.get('pid'):
            return entry['ppid']
        level = listing.level
        parent = self.host.entries.get(entry['ppid'])
        if parent is None or len(parent['ns_pids']) <= level:
            return 0
        visible = parent['pid_ns'] == listing.init['pid_ns'] or parent['pid'] in listing.member_pids()
        return parent['ns_pids'][level] if visible else 0


def container_record(view, describer, ids=()):
    """The process map of one container: (record, notes) with every process it can see.

    `ids` are looked up both ways through the container's own uid and gid maps.
    """
    facts = view.facts
    record = {
        'id': view.id,
        'name': facts.get('name'),
        'state': facts.get('state'),
        'running': view.running,
        'paused': bool(facts.get('paused')),
        'pid_mode': facts.get('pid_mode'),
        'userns_mode': facts.get('userns_mode'),
        'started_at': facts.get('started_at'),
        'finished_at': facts.get('finished_at'),
        'exit_code': facts.get('exit_code'),
        'host_pid': view.init['pid'] if view.init else None,
        'namespaces': describer.namespace_record(view.namespaces, view.id) if view.running else {},
        'uid_map': view.uid_map,
        'gid_map': view.gid_map,
        'passwd_read': view.users is not None,
        'group_read': view.groups is not None,
        'processes': [],
    }
    if ids and view.uid_map is not None:
        record['id_lookup'] = [{'id': value, 'uid': both_ways(value, view.uid_map), 'gid': both_ways(value, view.gid_map or [])}
                               for value in ids]
    notes = list(view.notes)
    if not view.running:
        if not facts.get('running'):
            notes.append('not running (%s%s): its last state is reported and it has no processes' % (
                facts.get('state'), ', finished at %s' % facts['finished_at'] if facts.get('finished_at') else ''))
        return record, notes
    mode = facts.get('pid_mode') or ''
    if record['namespaces'].get('pid', {}).get('shared_with_host'):
        notes.append('shares the host PID namespace (--pid=host): its processes are found by cgroup, '
                     'and container PIDs are host PIDs')
    elif mode.startswith('container:'):
        notes.append('shares the PID namespace of container %s (--pid=%s): the processes of both are listed, '
                     'each with the container it belongs to' % (mode.split(':', 1)[1], mode))
    ended = []
    for entry in view.member_entries():
        try:
            record['processes'].append(describer.describe(entry, view))
        except ProcessGone:
            ended.append(entry['pid'])
        except IdMapError as exc:
            notes.append('host PID %d: %s' % (entry['pid'], exc))
    if ended:
        notes.append('ended while being read, not listed: host PID %s' % ', '.join(str(pid) for pid in ended))
    if view.init['pid'] in ended:
        notes.append('its first process ended during the step: the container stopped or restarted')
    return record, notes


def lookup_host_pid(pid, host, describer):
    """Which container a host PID belongs to, with its PID and ids there; or the host."""
    query = {'host_pid': pid}
    entry = host.get(pid)
    if entry is None:
        return dict(query, found=False, msg='no process with host PID %d (never existed, or already ended)' % pid)
    try:
        record = describer.describe(entry)
    except ProcessGone:
        return dict(query, found=False, msg='host PID %d ended while being read' % pid)
    answer = dict(query, found=True, belongs_to='container' if record['container_id'] else 'host')
    answer.update(record)
    if entry['tgid'] != pid:
        # /proc/<tid> answers for a thread too; EDR alerts often name threads.
        answer['thread_of_host_pid'] = entry['tgid']
        answer.setdefault('notes', []).append('host PID %d is a thread of host PID %d' % (pid, entry['tgid']))
    if record['container_id'] and describer.views.get(record['container_id']) is None:
        answer['msg'] = 'its cgroup names container %s, which is not running according to the engine' % record['container_id']
    elif record['container_id']:
        answer['msg'] = 'container PID %s in %s' % (record['container_pid'], record['container_name'] or record['container_id'])
    else:
        foreign = container_ids_in(entry['cgroups'], _AnyId())
        answer['msg'] = 'a process of the host, in no container of this engine'
        if foreign:
            answer['unknown_container_ids'] = foreign
            answer['msg'] += ('; its cgroup names %s, unknown to this engine (another engine on this host, '
                              'or a removed container)' % ', '.join(foreign))
    return answer


class _AnyId:
    """Stands for "every id" where a set of known container ids is expected."""

    def __contains__(self, _item):
        return True


def lookup_container_pid(view, container_pid, describer):
    """The host process that a container's PID stands for."""
    query = {'container': view.facts.get('name') or view.id, 'container_id': view.id, 'container_pid': container_pid}
    if not view.running:
        return dict(query, found=False, msg='container %s is not running' % query['container'])
    level = view.level
    for entry in view.member_entries():
        if len(entry['ns_pids']) > level and entry['ns_pids'][level] == container_pid:
            try:
                record = describer.describe(entry, view)
            except ProcessGone:
                return dict(query, found=False, msg='container PID %d ended while being read' % container_pid)
            answer = dict(query, found=True, belongs_to='container', msg='host PID %d' % record['host_pid'])
            answer.update(record)
            return answer
    return dict(query, found=False, msg='no process with PID %d in container %s' % (container_pid, query['container']))
