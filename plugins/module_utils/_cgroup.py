# -*- coding: utf-8 -*-
# Copyright: dfir.docker contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Control groups: which container a process is in, and freezing a container.

Private to the collection; standard library only.

Docker names a container's cgroup after its full id, whatever the cgroup
driver: ``/docker/<id>`` (cgroupfs), ``/system.slice/docker-<id>.scope``
(systemd), under a user slice when rootless.  That id in a process's
cgroup paths is how a process is placed in a container.

Freezing is what ``docker pause`` does (runc writes the same files): the
cgroup v1 ``freezer.state``, or ``cgroup.freeze`` on cgroup v2.  It is the
only state change this collection ever makes, only when asked, and only on a
cgroup whose path names the container: never the root cgroup.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re
import signal
import time

from ansible_collections.dfir.docker.plugins.module_utils._safe_io import O_CLOEXEC, O_NOFOLLOW

CONTAINER_ID_IN_PATH = re.compile(r'(?<![0-9a-f])([0-9a-f]{64})(?![0-9a-f])')
V1_FROZEN, V1_THAWED, V1_FREEZING = 'FROZEN', 'THAWED', 'FREEZING'


class FreezeError(Exception):
    """The container could not be frozen or thawed; the message says why."""


def parse_cgroup(text):
    """/proc/<pid>/cgroup as [{hierarchy, controllers, path}]; controllers is '' on cgroup v2."""
    entries = []
    for line in text.splitlines():
        parts = line.split(':', 2)
        if len(parts) == 3:
            entries.append({'hierarchy': parts[0], 'controllers': parts[1], 'path': parts[2]})
    return entries


def container_ids_in(entries, known_ids):
    """Known container ids named by any of a process's cgroup paths."""
    found = []
    for entry in entries:
        for match in CONTAINER_ID_IN_PATH.findall(entry['path']):
            if match in known_ids and match not in found:
                found.append(match)
    return found


def _unescape_mountinfo(field):
    return re.sub(r'\\([0-7]{3})', lambda match: chr(int(match.group(1), 8)), field)


def parse_mountinfo(text):
    """Mounts of cgroup filesystems: [{fstype, root, mount_point, super_options}]."""
    mounts = []
    for line in text.splitlines():
        left, sep, right = line.partition(' - ')
        if not sep:
            continue
        fields, tail = left.split(), right.split()
        if len(fields) < 5 or len(tail) < 3 or tail[0] not in ('cgroup', 'cgroup2'):
            continue
        mounts.append({'fstype': tail[0], 'root': _unescape_mountinfo(fields[3]),
                       'mount_point': _unescape_mountinfo(fields[4]), 'super_options': tail[2].split(',')})
    return mounts


def _directory(mount, path):
    root = mount['root'].rstrip('/')
    if root and (path == root or path.startswith(root + '/')):
        path = path[len(root):] or '/'
    return os.path.normpath(mount['mount_point'] + '/' + path.lstrip('/'))


def locate_freezer(cgroup_entries, mounts, container_id):
    """The freezer of a container's cgroup: ('v1'|'v2', directory), or raise FreezeError.

    The v1 freezer is preferred on a hybrid host, as runc uses it there.
    """
    for entry in cgroup_entries:
        if 'freezer' in entry['controllers'].split(','):
            mount = next((item for item in mounts if item['fstype'] == 'cgroup' and 'freezer' in item['super_options']), None)
            if mount is not None and container_id in entry['path']:
                return 'v1', _directory(mount, entry['path'])
    for entry in cgroup_entries:
        if entry['hierarchy'] == '0' and entry['controllers'] == '':
            mount = next((item for item in mounts if item['fstype'] == 'cgroup2'), None)
            if mount is not None and container_id in entry['path']:
                return 'v2', _directory(mount, entry['path'])
    raise FreezeError('no freezer cgroup that names container %s was found for its first process '
                      '(its cgroups: %s)' % (container_id, ', '.join(item['path'] for item in cgroup_entries) or 'none'))


def _read(path):
    with open(path, 'rb') as handle:
        return handle.read().decode('ascii', 'replace')


def _write(path, value):
    fd = os.open(path, os.O_WRONLY | O_NOFOLLOW | O_CLOEXEC)
    try:
        os.write(fd, value.encode('ascii'))
    finally:
        os.close(fd)


class Freezer:
    """The freezer of one container's cgroup."""

    def __init__(self, version, directory):
        self.version = version
        self.directory = directory
        self.control_file = os.path.join(directory, 'freezer.state' if version == 'v1' else 'cgroup.freeze')
        self.method = 'cgroup %s freezer' % version

    def state(self):
        """'FROZEN', 'FREEZING' or 'THAWED'."""
        try:
            if self.version == 'v1':
                return _read(self.control_file).strip()
            events = dict(line.split(None, 1) for line in _read(os.path.join(self.directory, 'cgroup.events')).splitlines()
                          if ' ' in line)
            if events.get('frozen', '').strip() == '1':
                return V1_FROZEN
            return V1_FREEZING if _read(self.control_file).strip() == '1' else V1_THAWED
        except OSError as exc:
            raise FreezeError('cannot read the freezer state at %s: %s' % (self.directory, exc.strerror))

    def _set(self, frozen, timeout):
        wanted = V1_FROZEN if frozen else V1_THAWED
        value = wanted if self.version == 'v1' else ('1' if frozen else '0')
        try:
            _write(self.control_file, value)
        except OSError as exc:
            raise FreezeError('cannot write %s to %s: %s' % (value, self.control_file, exc.strerror))
        deadline = time.monotonic() + timeout
        delay = 0.005
        while True:
            state = self.state()
            if state == wanted:
                return state
            if time.monotonic() > deadline:
                raise FreezeError('%s did not become %s within %ss (it is %s)' % (self.directory, wanted, timeout, state))
            time.sleep(delay)
            delay = min(delay * 2, 0.2)

    def freeze(self, timeout=10):
        return self._set(True, timeout)

    def thaw(self, timeout=10):
        return self._set(False, timeout)


class ThawGuard:
    """A child process that thaws the container if this process dies while it may be frozen.

    Signal handlers cannot run on SIGKILL (an out-of-memory kill, a task
    timeout that kills hard): the guard can.  It waits on a pipe; `release()`
    writes to it once this process has thawed the container itself, and the
    guard exits without touching anything.  If this process dies first, the
    pipe reads end-of-file and the guard thaws.  The guard is in a session of
    its own, so a signal to this process group does not take it down too.
    """

    def __init__(self, freezer):
        read_end, self._write_end = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:
            self._guard(freezer, read_end)
        os.close(read_end)

    def _guard(self, freezer, read_end):
        try:
            os.setsid()
            for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                signal.signal(signum, signal.SIG_IGN)
            os.close(self._write_end)
            devnull = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(devnull, fd)
            if not os.read(read_end, 1):
                freezer.thaw()
        finally:
            os._exit(0)

    def release(self):
        """This process thawed the container (or tried): the guard ends without touching it."""
        if self._write_end is None:
            return
        try:
            os.write(self._write_end, b'.')
        finally:
            os.close(self._write_end)
            self._write_end = None
            os.waitpid(self.pid, 0)
