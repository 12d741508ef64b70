# -*- coding: utf-8 -*-
# Copyright: dfir.docker contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reading one process from the host's ``/proc``, without changing it.

Private to the collection; standard library only.

A `Process` holds a directory fd of ``/proc/<pid>``: every later read goes
through that fd, so once the process ends, a new process that reuses the PID
is never read in its place (the reads fail with ESRCH or ENOENT, which we
turn into `ProcessGone`).  ``exe``, ``cwd``, ``root`` and ``ns/*`` are magic
links: they are only ever read with readlink(), never opened or followed.

The parsers (`parse_status`, `parse_stat`, ...) are pure and unit-tested.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import os

from ansible_collections.dfir.docker.plugins.module_utils._safe_io import (
    O_CLOEXEC,
    O_DIRECTORY,
    display_path,
    utc_from_timestamp,
)

PROC = '/proc'
# The namespaces reported for every process; `time` exists from Linux 5.6 on.
NAMESPACES = ('pid', 'mnt', 'net', 'user', 'uts', 'ipc', 'cgroup', 'time')
STATE_NAMES = {
    'R': 'running', 'S': 'sleeping', 'D': 'disk sleep', 'Z': 'zombie', 'T': 'stopped',
    't': 'tracing stop', 'X': 'dead', 'x': 'dead', 'I': 'idle', 'P': 'parked', 'W': 'paging', 'K': 'wakekill',
}
# Reasons a read of /proc/<pid>/... fails because the process is no longer there.
GONE_ERRNOS = (errno.ENOENT, errno.ESRCH)
DELETED_SUFFIX = ' (deleted)'


class ProcessGone(Exception):
    """The process does not exist, or ended while it was being read."""

    def __init__(self, pid, what=None):
        message = 'no process with host PID %s' % pid if what is None else \
            'host PID %s ended while its %s was being read' % (pid, what)
        Exception.__init__(self, message)
        self.pid = pid


def parse_status(text):
    """/proc/<pid>/status as {field: raw value}."""
    fields = {}
    for line in text.splitlines():
        key, sep, value = line.partition(':')
        if sep:
            fields[key.strip()] = value.strip()
    return fields


def int_list(value):
    """'0\t0\t0\t0' -> [0, 0, 0, 0]; '' -> []."""
    return [int(item) for item in (value or '').split()]


def id_quad(values):
    """The four ids of a Uid:/Gid: line, named."""
    values = list(values) + [None] * (4 - len(values))
    return {'real': values[0], 'effective': values[1], 'saved': values[2], 'fs': values[3]}


# Fields of /proc/<pid>/stat after the command name, numbered as in proc(5).
_STAT_FIELDS = {'state': 3, 'ppid': 4, 'pgrp': 5, 'session': 6, 'tty_nr': 7, 'flags': 9, 'utime': 14,
                'stime': 15, 'cutime': 16, 'cstime': 17, 'priority': 18, 'nice': 19, 'num_threads': 20,
                'start_ticks': 22, 'vsize': 23, 'rss_pages': 24}


def parse_stat(text):
    """/proc/<pid>/stat as a dict; the command name may hold spaces and parentheses."""
    open_paren = text.find('(')
    close_paren = text.rfind(')')
    if open_paren < 0 or close_paren < open_paren:
        raise ValueError('not a /proc/<pid>/stat line: %r' % text[:80])
    rest = text[close_paren + 1:].split()
    parsed = {'pid': int(text[:open_paren]), 'comm': text[open_paren + 1:close_paren]}
    for name, number in _STAT_FIELDS.items():
        value = rest[number - 3] if len(rest) > number - 3 else None
        parsed[name] = value if name == 'state' or value is None else int(value)
    return parsed


def parse_ns_link(target):
    """'pid:[4026532177]' -> 4026532177."""
    _kind, _sep, rest = target.partition(':[')
    if not rest.endswith(']'):
        raise ValueError('not a namespace link: %r' % target)
    return int(rest[:-1])


def split_cmdline(raw):
    """Arguments of a raw cmdline, each shown losslessly (see display_path)."""
    if not raw:
        return []
    if raw.endswith(b'\0'):
        raw = raw[:-1]
    return [display_path(item) for item in raw.split(b'\0')]


def start_time(start_ticks, boot_time, ticks_per_second):
    """UTC start time from the start tick, the boot time and the clock tick rate."""
    if start_ticks is None or boot_time is None:
        return None
    return utc_from_timestamp(boot_time + start_ticks / float(ticks_per_second))


def parse_boot_time(stat_text):
    """The btime line of /proc/stat: the boot time in seconds since the epoch."""
    for line in stat_text.splitlines():
        if line.startswith('btime '):
            return int(line.split()[1])
    return None


def clock_ticks():
    return os.sysconf('SC_CLK_TCK')


def read_fd_all(fd, limit):
    chunks, total = [], 0
    while True:
        data = os.read(fd, 65536)
        if not data:
            return b''.join(chunks)
        total += len(data)
        if total > limit:
            raise OSError(errno.EFBIG, 'is larger than %d bytes' % limit)
        chunks.append(data)


def read_proc_file(path, limit=4 * 1024 * 1024, dir_fd=None):
    """A whole file of /proc (their size is 0 until read)."""
    fd = os.open(path, os.O_RDONLY | O_CLOEXEC, dir_fd=dir_fd)
    try:
        return read_fd_all(fd, limit)
    finally:
        os.close(fd)


def boot_time(proc=PROC):
    return parse_boot_time(read_proc_file(os.path.join(proc, 'stat')).decode('ascii', 'replace'))


def list_pids(proc=PROC):
    """The thread-group ids /proc lists, ascending."""
    return sorted(int(name) for name in os.listdir(proc) if name.isdigit())


def host_namespaces(proc=PROC):
    """Namespace inodes of the host: those of PID 1, else (where the kernel hides
    PID 1's from us) those of this very process, which runs on the host."""
    found = {}
    for pid in (1, os.getpid()):
        try:
            with Process(pid, proc) as process:
                for kind, inode in process.namespaces().items():
                    found.setdefault(kind, inode)
        except ProcessGone:
            continue
    return found


class Process:
    """One process, read through a directory fd of /proc/<pid>."""

    def __init__(self, pid, proc=PROC):
        self.pid = int(pid)
        self.proc = proc
        try:
            self.dir_fd = os.open(os.path.join(proc, str(self.pid)), os.O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        except OSError as exc:
            if exc.errno in GONE_ERRNOS or exc.errno == errno.ENOTDIR:
                raise ProcessGone(self.pid)
            raise

    def close(self):
        if self.dir_fd is not None:
            os.close(self.dir_fd)
            self.dir_fd = None

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def _gone(self, exc, what):
        if exc.errno in GONE_ERRNOS:
            return ProcessGone(self.pid, what)
        return exc

    def read(self, name, limit=4 * 1024 * 1024):
        """The bytes of /proc/<pid>/<name>; ProcessGone once the process has ended."""
        try:
            return read_proc_file(name, limit, dir_fd=self.dir_fd)
        except OSError as exc:
            raise self._gone(exc, name)

    def open(self, name):
        """An fd of /proc/<pid>/<name> (for mem, which is read in pieces)."""
        try:
            return os.open(name, os.O_RDONLY | O_CLOEXEC, dir_fd=self.dir_fd)
        except OSError as exc:
            raise self._gone(exc, name)

    def readlink(self, name):
        """The target of a magic link, or None when the kernel gives none (zombie, kernel thread)."""
        try:
            return os.readlink(name, dir_fd=self.dir_fd)
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                # A zombie keeps its /proc entry but has no exe, cwd, root or most namespaces.
                return None
            raise self._gone(exc, name)

    def text(self, name, limit=4 * 1024 * 1024):
        return self.read(name, limit).decode('utf-8', 'surrogateescape')

    # -- what the rest of the collection reads --------------------------

    def status(self):
        return parse_status(self.text('status'))

    def stat(self):
        return parse_stat(self.text('stat'))

    def cgroup(self):
        return self.text('cgroup')

    def namespaces(self):
        """{namespace type: inode} for every namespace the kernel shows for this process."""
        found = {}
        for kind in NAMESPACES:
            try:
                target = self.readlink('ns/' + kind)
            except OSError as exc:
                if exc.errno in (errno.EACCES, errno.EPERM):
                    continue
                raise
            if target is not None:
                found[kind] = parse_ns_link(target)
        return found

    def threads(self):
        """Thread ids of this process, ascending."""
        try:
            task_fd = os.open('task', os.O_RDONLY | O_DIRECTORY | O_CLOEXEC, dir_fd=self.dir_fd)
        except OSError as exc:
            raise self._gone(exc, 'task list')
        try:
            names = os.listdir(task_fd)
        finally:
            os.close(task_fd)
        return sorted(int(name) for name in names if name.isdigit())

    def magic_link(self, name):
        """exe/cwd/root as {path, deleted}; the path is as the process sees it, not followed."""
        target = self.readlink(name)
        if target is None:
            return None, False
        deleted = target.endswith(DELETED_SUFFIX)
        return display_path(target), deleted

    def still_same(self, start_ticks):
        """True while this is the process first seen (same start tick) and it has not died."""
        try:
            current = self.stat()
        except ProcessGone:
            return False
        return current['start_ticks'] == start_ticks and current['state'] not in ('Z', 'X', 'x')
