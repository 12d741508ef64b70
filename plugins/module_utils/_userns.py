# -*- coding: utf-8 -*-
# Copyright: dfir.docker contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The daemon's user-namespace setup: userns-remap, subordinate ids, rootless maps.

Private to the collection; standard library only.

Where the setting comes from, in the order Docker applies it: the daemon's
command line (``--userns-remap``), then its ``daemon.json``; the remapped
Docker root (``<root>/<uid>.<gid>``) tells the ids even when neither can be
read.  The remap user's ranges come from ``/etc/subuid`` and ``/etc/subgid``
and are turned into the map Docker gives containers (container id 0 is the
first id of the first range).  A rootless daemon runs in a user namespace of
its own: its ``uid_map``/``gid_map`` are reported the same way.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

from ansible_collections.dfir.docker.plugins.module_utils._engine_api import parse_docker_host
from ansible_collections.dfir.docker.plugins.module_utils._idmap import (
    IdMapError,
    parse_id_map,
    parse_subid,
    remap_id_map,
    subid_ranges,
    to_inside,
    to_outside,
)
from ansible_collections.dfir.docker.plugins.module_utils._proc import PROC, Process, ProcessGone, list_pids
from ansible_collections.dfir.docker.plugins.module_utils._safe_io import describe_os_error, read_small

DEFAULT_SOCKET = '/var/run/docker.sock'
DEFAULT_REMAP_USER = 'dockremap'
# dockerd flags that matter here, with their short forms.
DAEMON_FLAGS = {'-H': 'host', '--host': 'host', '--data-root': 'data_root', '-g': 'data_root', '--graph': 'data_root',
                '--userns-remap': 'userns_remap', '--config-file': 'config_file', '--exec-root': 'exec_root',
                '-p': 'pidfile', '--pidfile': 'pidfile', '--rootless': 'rootless'}


def parse_daemon_args(argv):
    """The flags of a dockerd command line that say which daemon it is and how it maps ids."""
    found = {'host': []}
    index = 1
    while index < len(argv):
        arg = argv[index]
        index += 1
        name, value = arg, None
        if arg.startswith('--') and '=' in arg:
            name, value = arg.split('=', 1)
        elif arg.startswith('-H') and len(arg) > 2 and not arg.startswith('--'):
            name, value = '-H', arg[2:].lstrip('=')
        key = DAEMON_FLAGS.get(name)
        if key is None:
            continue
        if key == 'rootless':
            found[key] = value is None or value.lower() in ('true', '1')
            continue
        if value is None and index < len(argv):
            value = argv[index]
            index += 1
        if key == 'host':
            found['host'].append(value)
        else:
            found[key] = value
    return found


def daemon_serves(args, socket_path):
    """True when a dockerd with these flags listens on `socket_path`."""
    hosts = args.get('host') or []
    if not hosts or 'fd://' in hosts:
        # No -H: the default socket; fd://: systemd hands it the default socket.
        if os.path.normpath(socket_path) == DEFAULT_SOCKET:
            return True
    for host in hosts:
        if host.startswith('unix://') and os.path.normpath(host[len('unix://'):]) == os.path.normpath(socket_path):
            return True
    return False


def find_daemons(proc=PROC):
    """Every dockerd process of the host: [{pid, argv, args}]."""
    daemons = []
    for pid in list_pids(proc):
        try:
            with Process(pid, proc) as process:
                if process.text('comm').strip() != 'dockerd':
                    continue
                raw = process.read('cmdline', 1024 * 1024)
        except (ProcessGone, OSError):
            continue
        argv = [part.decode('utf-8', 'surrogateescape') for part in raw.rstrip(b'\0').split(b'\0')]
        daemons.append({'pid': pid, 'argv': argv, 'args': parse_daemon_args(argv)})
    return daemons


def match_daemon(daemons, docker_host, docker_root):
    """The dockerd that serves `docker_host` or keeps `docker_root`: (daemon, matched by) or (None, None)."""
    try:
        socket_path = parse_docker_host(docker_host)
    except Exception:  # noqa: B902 - an unsupported docker_host simply matches by root
        socket_path = None
    for daemon in daemons:
        if socket_path and daemon_serves(daemon['args'], socket_path):
            return daemon, 'socket %s' % socket_path
    if docker_root:
        roots = {os.path.normpath(docker_root), os.path.dirname(os.path.normpath(docker_root))}
        for daemon in daemons:
            data_root = daemon['args'].get('data_root') or '/var/lib/docker'
            if os.path.normpath(data_root) in roots:
                return daemon, 'data root %s' % data_root
    return None, None


def remap_names(setting):
    """(user, group) a --userns-remap value names."""
    if not setting:
        return None, None
    if setting == 'default':
        return DEFAULT_REMAP_USER, DEFAULT_REMAP_USER
    user, _sep, group = setting.partition(':')
    return user, group or user


def read_subid_file(path, why_not=None):
    """(entries, report) of /etc/subuid or /etc/subgid; never raises for an unreadable file.
    A path of None is not read: `why_not` says why (the host's own files are not reachable from here)."""
    report = {'path': path, 'readable': False, 'error': None, 'entries': [], 'problems': []}
    if path is None:
        report['error'] = 'not read: %s' % (why_not or 'no file given')
        return [], report
    try:
        text = read_small(path, 16 * 1024 * 1024).decode('utf-8', 'surrogateescape')
    except OSError as exc:
        report['error'] = describe_os_error(exc)
        return [], report
    entries, problems = parse_subid(text)
    report.update(readable=True, entries=entries, problems=problems)
    return entries, report


def _id_number(name, names_to_ids):
    if name is None:
        return None
    if name.isdigit():
        return name
    number = names_to_ids.get(name)
    return str(number) if number is not None else None


class UsernsReport:
    """Collects the pieces of the report; `as_dict()` gives it."""

    def __init__(self, engine, docker_host, docker_root, daemon_config, host_accounts, host_ns,
                 subuid_path='/etc/subuid', subgid_path='/etc/subgid', live=True, proc=PROC, subid_why_not=None):
        self.notes = []
        self.engine = engine or {}
        self.host_ns = host_ns or {}
        self.daemon = None
        self.daemon_config = daemon_config
        if live:
            daemon, matched_by = match_daemon(find_daemons(proc), docker_host, docker_root)
            if daemon is not None:
                self.daemon = self._describe_daemon(daemon, matched_by, proc)
            else:
                self.notes.append('no dockerd process serving %s was found on this host' % docker_host)
        self.setting, self.configured_in = self._setting()
        self.remapped_to = self.engine.get('remapped_to')
        uid_entries, self.subuid = read_subid_file(subuid_path, subid_why_not)
        gid_entries, self.subgid = read_subid_file(subgid_path, subid_why_not)
        for report, kind in ((self.subuid, 'subuid'), (self.subgid, 'subgid')):
            if report['error']:
                self.notes.append('%s ranges unknown: %s' % (kind, report['error']))
        self.user, self.group = remap_names(self.setting)
        users_to_ids = dict((name, number) for number, name in (host_accounts.users or {}).items())
        groups_to_ids = dict((name, number) for number, name in (host_accounts.groups or {}).items())
        self.uid_name, self.uid_ranges = self._ranges(uid_entries, self.user, users_to_ids, 'uid')
        self.gid_name, self.gid_ranges = self._ranges(gid_entries, self.group, groups_to_ids, 'gid')
        self.uid_map = remap_id_map(self.uid_ranges) if self.uid_ranges else None
        self.gid_map = remap_id_map(self.gid_ranges) if self.gid_ranges else None
        self._check_against_root()

    def _describe_daemon(self, daemon, matched_by, proc):
        described = {'pid': daemon['pid'], 'cmdline': daemon['argv'], 'matched_by': matched_by,
                     'userns_remap_flag': daemon['args'].get('userns_remap'),
                     'config_file': daemon['args'].get('config_file'), 'data_root': daemon['args'].get('data_root')}
        try:
            with Process(daemon['pid'], proc) as process:
                namespaces = process.namespaces()
                described['user_namespace'] = namespaces.get('user')
                described['rootless'] = namespaces.get('user') != self.host_ns.get('user') or bool(daemon['args'].get('rootless'))
                if described['rootless']:
                    described['uid_map'] = parse_id_map(process.text('uid_map'))
                    described['gid_map'] = parse_id_map(process.text('gid_map'))
        except ProcessGone:
            self.notes.append('dockerd (PID %d) ended while being read' % daemon['pid'])
        except IdMapError as exc:
            self.notes.append('dockerd (PID %d): %s' % (daemon['pid'], exc))
        if daemon['args'].get('config_file'):
            try:
                self.daemon_config = json.loads(read_small(daemon['args']['config_file'], 1024 * 1024).decode('utf-8'))
            except (OSError, ValueError) as exc:
                self.notes.append('the daemon config %s cannot be read: %s' % (daemon['args']['config_file'], exc))
        return described

    def _setting(self):
        if self.daemon and self.daemon.get('userns_remap_flag'):
            return self.daemon['userns_remap_flag'], 'command line of dockerd (PID %d)' % self.daemon['pid']
        if isinstance(self.daemon_config, dict) and self.daemon_config.get('userns-remap'):
            return self.daemon_config['userns-remap'], 'daemon.json'
        return None, None

    def _ranges(self, entries, name, names_to_ids, kind):
        if name is not None:
            found_name, ranges = subid_ranges(entries, [name, _id_number(name, names_to_ids)])
            if ranges:
                return found_name, ranges
            if entries or (self.subuid['readable'] if kind == 'uid' else self.subgid['readable']):
                self.notes.append('no sub%s range for %s' % (kind, name))
            return None, []
        if self.remapped_to:
            start = self.remapped_to['uid' if kind == 'uid' else 'gid']
            first = next((entry for entry in entries if entry['start'] == start), None)
            if first is not None:
                return first['name'], [entry for entry in entries if entry['name'] == first['name']]
        return None, []

    def _check_against_root(self):
        if self.remapped_to and self.uid_map and self.uid_map[0]['outside'] != self.remapped_to['uid']:
            self.notes.append('the remapped Docker root is for uid %d, but the subuid range of %s starts at %d: '
                              'the ranges changed since the daemon started'
                              % (self.remapped_to['uid'], self.uid_name, self.uid_map[0]['outside']))
        if self.engine.get('userns_remap') and not (self.setting or self.remapped_to):
            self.notes.append('the engine remaps user namespaces, but neither its setting nor its ids were found')

    def lookup(self, ids):
        """Each id both ways through the daemon's map (remap, else a rootless daemon's own)."""
        uid_map, gid_map, through = self.uid_map, self.gid_map, 'userns-remap'
        if uid_map is None and self.daemon and self.daemon.get('uid_map'):
            uid_map, gid_map, through = self.daemon['uid_map'], self.daemon['gid_map'], 'rootless daemon'
        results = []
        for value in ids:
            entry = {'id': value, 'through': through if uid_map else None}
            for kind, mapping in (('uid', uid_map), ('gid', gid_map)):
                entry[kind] = {'container_to_host': to_outside(value, mapping) if mapping else None,
                               'host_to_container': to_inside(value, mapping) if mapping else None}
            results.append(entry)
        return results

    def as_dict(self, ids=()):
        return {
            'userns_remap': {
                'enabled': bool(self.setting or self.remapped_to or self.engine.get('userns_remap')),
                'setting': self.setting,
                'configured_in': self.configured_in,
                'engine_reports_userns': bool(self.engine.get('userns_remap')),
                'remapped_root_ids': self.remapped_to,
                'user': self.uid_name or self.user,
                'group': self.gid_name or self.group,
                'uid_ranges': self.uid_ranges,
                'gid_ranges': self.gid_ranges,
                'uid_map': self.uid_map,
                'gid_map': self.gid_map,
            },
            'rootless': bool(self.engine.get('rootless') or (self.daemon or {}).get('rootless')),
            'daemon': self.daemon,
            'subuid_file': self.subuid,
            'subgid_file': self.subgid,
            'id_lookup': self.lookup(ids),
            'notes': self.notes,
        }
