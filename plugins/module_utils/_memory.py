# -*- coding: utf-8 -*-
# Copyright: dfir.docker contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A process's memory, from /proc/<pid>/maps and /proc/<pid>/mem, as an ELF core.

Private to the collection; standard library only.

Nothing is written to or run in the process: its memory is read with
pread() on /proc/<pid>/mem, region by region, in chunks, and streamed to the
writer (the staging dir's hashing writer), never held whole.  A region the
kernel will not let us read (``[vvar]``, device mappings) is listed and
written with no bytes; a page that fails while the process lives is written
as zeros and listed.  When the address space goes away mid-dump (the process
exited or exec'd), `ProcessExited` is raised and the caller drops the partial
core.  Reading does fault the pages read into the process, as gdb's gcore does.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import os
import time

from ansible_collections.dfir.docker.plugins.module_utils._elfcore import (
    ARCHES,
    NT_AUXV,
    NT_FILE,
    NT_PRPSINFO,
    NT_PRSTATUS,
    CoreLayout,
    note,
    nt_file,
    parse_syscall,
    prpsinfo,
    prstatus,
)
from ansible_collections.dfir.docker.plugins.module_utils._proc import (
    PROC,
    Process,
    ProcessGone,
    clock_ticks,
    id_quad,
    int_list,
    parse_stat,
    parse_status,
)
from ansible_collections.dfir.docker.plugins.module_utils._safe_io import display_path

PAGE_SIZE = os.sysconf('SC_PAGE_SIZE')
CHUNK_SIZE = 1024 * 1024
# pread() takes a signed offset: addresses from 2**63 (x86_64's [vsyscall]) cannot be asked for.
PREAD_LIMIT = 1 << 63
# Errors of a read of /proc/<pid>/mem that mean "this page cannot be read".
UNREADABLE_ERRNOS = (errno.EIO, errno.EFAULT, errno.ENOMEM, errno.EPERM, errno.EACCES)
DELETED = b' (deleted)'


class ProcessExited(Exception):
    """The address space went away while it was being read."""


class UnsupportedArch(Exception):
    pass


def host_arch():
    machine = os.uname()[4]
    arch = ARCHES.get(machine)
    if arch is None:
        raise UnsupportedArch('core files are written for x86_64 and aarch64; this host is %s' % machine)
    return arch


def parse_maps(raw):
    """/proc/<pid>/maps (bytes) as regions: start, end, perms, offset, dev, inode, path."""
    regions = []
    for line in raw.splitlines():
        fields = line.split(None, 5)
        if len(fields) < 5:
            continue
        start, end = (int(value, 16) for value in fields[0].split(b'-'))
        path_bytes = fields[5].strip() if len(fields) > 5 else b''
        regions.append({
            'start': start, 'end': end, 'perms': fields[1].decode('ascii'), 'offset': int(fields[2], 16),
            'dev': fields[3].decode('ascii'), 'inode': int(fields[4]), 'path_bytes': path_bytes,
            'path': display_path(path_bytes) or None, 'deleted': path_bytes.endswith(DELETED),
        })
    return regions


def readable_bytes(regions):
    return sum(region['end'] - region['start'] for region in regions if 'r' in region['perms'])


def estimated_core_size(regions):
    """An upper bound of the core's size before the regions are probed: for planning."""
    header = 64 + 56 * (len(regions) + 1) + 64 * 1024
    return header + (-header % PAGE_SIZE) + readable_bytes(regions)


class Throttle:
    """Keeps reading at or under `rate` bytes per second (0: no limit), to spare a production host."""

    def __init__(self, rate):
        self.rate = rate or 0
        self.started = time.monotonic()
        self.done = 0

    def spent(self, size):
        self.done += size
        if self.rate:
            ahead = self.done / float(self.rate) - (time.monotonic() - self.started)
            if ahead > 0:
                time.sleep(ahead)


class MemoryDump:
    """One process's memory, ready to be streamed as an ELF core."""

    def __init__(self, pid, start_ticks=None, proc=PROC):
        self.pid = pid
        self.process = Process(pid, proc)
        self.mem_fd = None
        self.layout = None
        self.unreadable = []
        self.zero_filled = []
        self.threads = []
        try:
            self.stat = self.process.stat()
            if start_ticks is not None and self.stat['start_ticks'] != start_ticks:
                raise ProcessGone(pid)
            self.maps_raw = self.process.read('maps', 256 * 1024 * 1024)
            self.regions = parse_maps(self.maps_raw)
        except BaseException:
            self.close()
            raise

    @property
    def zombie(self):
        return self.stat['state'] in ('Z', 'X', 'x')

    def close(self):
        if self.mem_fd is not None:
            os.close(self.mem_fd)
            self.mem_fd = None
        self.process.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def alive(self):
        return self.process.still_same(self.stat['start_ticks'])

    # -- before writing --------------------------------------------------

    def prepare(self, arch):
        """Open the memory, probe each region, build the notes and the layout."""
        self.mem_fd = self.process.open('mem')
        for region in self.regions:
            reason = self._probe(region)
            region['dumped'] = reason is None
            if reason is not None:
                self.unreadable.append({'start': region['start'], 'end': region['end'], 'perms': region['perms'],
                                        'path': region['path'], 'reason': reason})
        self.layout = CoreLayout(arch, self._notes(arch), self.regions, PAGE_SIZE)
        return self.layout.size

    def _probe(self, region):
        if 'r' not in region['perms']:
            return 'not readable (%s)' % region['perms']
        if region['start'] >= PREAD_LIMIT:
            return 'above the addresses /proc/<pid>/mem can be read at'
        try:
            data = os.pread(self.mem_fd, 1, region['start'])
        except OSError as exc:
            if exc.errno not in UNREADABLE_ERRNOS:
                raise
            return 'the kernel refuses to read it (%s)' % exc.strerror
        if not data:
            raise ProcessExited('the address space of host PID %d went away (it exited or exec\'d)' % self.pid)
        return None

    def _notes(self, arch):
        ticks = clock_ticks()
        status = parse_status(self.process.text('status'))
        uids, gids = id_quad(int_list(status.get('Uid'))), id_quad(int_list(status.get('Gid')))
        stat = self.stat
        info = dict(stat, cmdline=self.process.read('cmdline', 1024 * 1024), uid=uids['real'], gid=gids['real'],
                    sid=stat['session'])
        threads = []
        for tid in self.process.threads():
            thread = self._thread(tid)
            if thread is not None:
                threads.append(thread)
        # The main thread first, as the kernel writes it: debuggers take it as the current one.
        threads.sort(key=lambda item: item['pid'] != self.pid)
        self.threads = threads
        notes = []
        if threads:
            notes.append(note(NT_PRSTATUS, prstatus(arch, threads[0], ticks)))
        notes.append(note(NT_PRPSINFO, prpsinfo(info)))
        try:
            notes.append(note(NT_AUXV, self.process.read('auxv', 1024 * 1024)))
        except OSError:
            pass
        files = [region for region in self.regions if region['inode'] and region['path_bytes'].startswith(b'/')]
        notes.append(note(NT_FILE, nt_file(files, PAGE_SIZE)))
        for thread in threads[1:]:
            notes.append(note(NT_PRSTATUS, prstatus(arch, thread, ticks)))
        return b''.join(notes)

    def _thread(self, tid):
        base = 'task/%d/' % tid
        try:
            stat = parse_stat(self.process.text(base + 'stat'))
            status = parse_status(self.process.text(base + 'status'))
            try:
                syscall = parse_syscall(self.process.text(base + 'syscall'))
            except OSError:
                syscall = None
        except ProcessGone:
            return None
        return {
            'pid': tid, 'ppid': stat['ppid'], 'pgrp': stat['pgrp'], 'sid': stat['session'],
            'sigpend': int(status.get('SigPnd') or '0', 16), 'sighold': int(status.get('SigBlk') or '0', 16),
            'utime': stat['utime'], 'stime': stat['stime'], 'cutime': stat['cutime'], 'cstime': stat['cstime'],
            'syscall': syscall,
        }

    # -- writing ---------------------------------------------------------

    def stream(self, write, throttle=None):
        """Write the whole core through `write(bytes)`; raise ProcessExited if the process goes."""
        throttle = throttle or Throttle(0)
        write(self.layout.head())
        for region in self.regions:
            if region['dumped']:
                self._copy(region, write, throttle)

    def _copy(self, region, write, throttle):
        position, end = region['start'], region['end']
        while position < end:
            try:
                data = os.pread(self.mem_fd, min(CHUNK_SIZE, end - position), position)
            except OSError as exc:
                if exc.errno not in UNREADABLE_ERRNOS:
                    raise
                data = None
            if data == b'':
                # A read of nothing means the address space itself is gone.
                raise ProcessExited('host PID %d exited (or exec\'d) during the dump' % self.pid)
            if data is None:
                if not self.alive():
                    raise ProcessExited('host PID %d exited during the dump' % self.pid)
                page_end = min(end, position - position % PAGE_SIZE + PAGE_SIZE)
                write(b'\0' * (page_end - position))
                self._zero_filled(position, page_end)
                position = page_end
                continue
            write(data)
            position += len(data)
            throttle.spent(len(data))

    def _zero_filled(self, start, end):
        if self.zero_filled and self.zero_filled[-1]['end'] == start:
            self.zero_filled[-1]['end'] = end
        else:
            self.zero_filled.append({'start': start, 'end': end})

    def report(self):
        """What the dump holds, for the record beside the core."""
        def hexed(items):
            return [dict(item, start='0x%x' % item['start'], end='0x%x' % item['end']) for item in items]
        return {
            'host_pid': self.pid,
            'name': display_path(self.stat['comm']),
            'regions': len(self.regions),
            'regions_dumped': len([region for region in self.regions if region.get('dumped')]),
            'bytes_dumped': sum(region['end'] - region['start'] for region in self.regions if region.get('dumped')),
            'unreadable_regions': hexed(self.unreadable),
            'zero_filled': hexed(self.zero_filled),
            'threads': len(self.threads),
            'threads_with_registers': len([thread for thread in self.threads if thread['syscall']]),
        }
