# -*- coding: utf-8 -*-
# Copyright: dfir.docker contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filesystem evidence: entries of a layer stack written as a PAX tar.

Private to the collection.  Pure Python, standard library only.

`TarExport` takes entries from `_layers.LayerStack` (the merged view, one
layer as stored, a plain directory) and writes them with `_tarstream`:
files are opened beside their directory (never by a host path), read with
O_NOATIME and never followed; fifos, sockets and devices are entries and
are never opened; sparse files keep their holes; hard links stay links.
What could not be read is listed in the report and the export goes on.  A
file that changes while it is read still fills exactly the bytes its header
announced (zeros for what was missing) and is listed as changed.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import json
import os
import stat
import time

from ansible_collections.dfir.docker.plugins.module_utils._layers import (
    AUFS_OPAQUE,
    AUFS_WHITEOUT_PREFIX,
    DIRECTORY,
    FILE,
    MARK_OPAQUE,
    MARK_WHITEOUT,
    SYMLINK,
    WHITEOUT_OVERLAY,
    LayerError,
    is_driver_xattr,
)
from ansible_collections.dfir.docker.plugins.module_utils._safe_io import display_path, utc_from_timestamp, utc_now
from ansible_collections.dfir.docker.plugins.module_utils._tarstream import Member, TarWriter, data_segments
from ansible_collections.dfir.docker.plugins.module_utils._tree import (
    open_file_at,
    readlink_at,
    xattrs_of,
)

READ_CHUNK = 1024 * 1024
# Lists in a report are complete in the sidecar JSON; a module result shows the first ones.
RESULT_LIST_LIMIT = 50


class ExportAborted(Exception):
    """The export cannot go on (the container went away, the staging disk is full...)."""


class SizeLimitExceeded(Exception):
    """A measuring run (no sink) passed its size limit; the real export is not worth starting."""


def ns(st, name):
    return getattr(st, name + '_ns', None)


class IdNames:
    """User and group names as the container itself names them (its /etc/passwd and /etc/group)."""

    def __init__(self, users=None, groups=None, source=None):
        self.users = users or {}
        self.groups = groups or {}
        self.source = source

    @classmethod
    def from_stack(cls, stack, limit=4 * 1024 * 1024):
        users, groups = {}, {}
        for path, table in ((b'/etc/passwd', users), (b'/etc/group', groups)):
            try:
                data = read_container_file(stack, path, limit)
            except (OSError, LayerError):
                continue
            if data is None:
                continue
            for line in data.split(b'\n'):
                fields = line.split(b':')
                if len(fields) >= 3 and fields[0] and not fields[0].startswith(b'#'):
                    try:
                        table.setdefault(int(fields[2]), fields[0])
                    except ValueError:
                        continue
        return cls(users, groups, 'container /etc/passwd and /etc/group')

    def user(self, uid):
        return self.users.get(uid, b'')

    def group(self, gid):
        return self.groups.get(gid, b'')


class RemappedIds:
    """Owners on disk of a user-namespace-remapped root, as the container saw them.

    With ``userns-remap``, container uid 0 is host uid <base> (the ``<uid>.<gid>``
    of the root's name), over Docker's range of 65536 ids.  An id outside the
    range is what the kernel shows the container as the overflow id 65534
    (nobody, nogroup); such entries are counted.  (`docker export` leaves them
    out altogether: Docker's own init layer has one, ``/etc/mtab``, owned by the
    host's root.)
    """

    SIZE = 65536
    OVERFLOW = 65534

    def __init__(self, uid_base, gid_base):
        self.uid_base = uid_base
        self.gid_base = gid_base
        self.outside = 0

    def _one(self, value, base):
        if base <= value < base + self.SIZE:
            return value - base
        return None

    def map(self, uid, gid):
        mapped_uid, mapped_gid = self._one(uid, self.uid_base), self._one(gid, self.gid_base)
        if mapped_uid is None or mapped_gid is None:
            self.outside += 1
        return (self.OVERFLOW if mapped_uid is None else mapped_uid,
                self.OVERFLOW if mapped_gid is None else mapped_gid)

    def describe(self):
        return {'uid_base': self.uid_base, 'gid_base': self.gid_base, 'size': self.SIZE,
                'entries_outside_the_range': self.outside}


def read_container_file(stack, path, limit):
    """A small regular file of the merged view, path resolved inside the container root; None if absent."""
    entry, _resolved, _links = stack.resolve(path, follow=True)
    if entry is None or entry.kind != FILE:
        return None
    parent = stack.open_parent(entry)
    try:
        fd, st = open_file_at(parent, entry.disk_name)
    finally:
        os.close(parent)
    try:
        if st.st_size > limit:
            return None
        chunks = []
        total = 0
        while total <= limit:
            data = os.read(fd, 65536)
            if not data:
                break
            chunks.append(data)
            total += len(data)
        return b''.join(chunks)[:limit]
    finally:
        os.close(fd)


class Report:
    """What one tar holds and what it could not hold."""

    def __init__(self, kind, name):
        self.kind = kind
        self.name = name
        self.counts = {}
        self.data_bytes = 0
        self.entries = 0
        self.unreadable = []
        self.changed = []
        self.skipped = []
        # layers under the tar that could not be read: what they hold is missing from it
        self.unreadable_layers = []
        self.sparse = []
        self.whiteouts = []
        self.opaque_dirs = []
        self.notes = []
        self.started_at = utc_now()
        self.finished_at = None

    def count(self, kind):
        self.counts[kind] = self.counts.get(kind, 0) + 1

    @property
    def complete(self):
        return not (self.unreadable or self.changed or self.unreadable_layers)

    def to_dict(self, full=True):
        limit = None if full else RESULT_LIST_LIMIT
        document = {
            'entries': self.entries,
            'counts': dict(self.counts),
            'data_bytes': self.data_bytes,
            'complete': self.complete,
            'started_at': self.started_at,
            'finished_at': self.finished_at,
        }
        for key in ('unreadable', 'changed', 'unreadable_layers', 'skipped', 'sparse', 'whiteouts', 'opaque_dirs', 'notes'):
            items = getattr(self, key)
            if items or key in ('unreadable', 'changed'):
                document[key] = items if limit is None else items[:limit]
                if limit is not None and len(items) > limit:
                    document[key + '_total'] = len(items)
        return document


class Progress:
    """A small JSON file next to the artifact being written, so a long export shows it is moving."""

    def __init__(self, path, interval=1.0):
        self.path = path
        self.interval = interval
        self._last = 0.0

    def update(self, written, entries, force=False):
        if self.path is None:
            return
        now = time.monotonic()
        if not force and now - self._last < self.interval:
            return
        self._last = now
        document = {'bytes_written': written, 'entries': entries, 'updated_at': utc_now()}
        temporary = self.path + '.tmp'
        try:
            with open(temporary, 'w') as handle:
                json.dump(document, handle)
            os.rename(temporary, self.path)
        except OSError:
            pass  # progress is a courtesy, never a reason to fail

    def remove(self):
        if self.path is None:
            return
        for path in (self.path, self.path + '.tmp'):
            try:
                os.unlink(path)
            except OSError:
                pass


class TarExport:
    """Writes entries of a LayerStack into one tar."""

    def __init__(self, stack, sink, names, report, max_data_bytes=None, progress=None, alive=None, size_limit=None,
                 ids=None):
        self.stack = stack
        self.tar = TarWriter(sink)
        self.names = names
        self.report = report
        self.max_data_bytes = max_data_bytes
        self.progress = progress
        self.alive = alive            # callable raising ExportAborted when the source went away
        self.size_limit = size_limit  # measuring only: stop as soon as the tar would be larger
        self.ids = ids                # RemappedIds for a userns-remapped root
        self._links = {}
        self._buffer = bytearray(READ_CHUNK)
        self._view = memoryview(self._buffer)
        self._last_check = time.monotonic()

    @property
    def dry_run(self):
        return self.tar.counting

    @property
    def size(self):
        return self.tar.offset

    # -- walks -----------------------------------------------------------------

    def merged(self, path=b'/', name_base=None):
        """The merged view at and below `path`; the root itself is not an entry (like docker export)."""
        for entry in self.stack.walk(path, on_error=self._walk_error):
            if entry.path == b'/':
                continue
            self.entry(entry, self.tar_name(entry.path, entry.kind, name_base))

    def layer(self, layer):
        """One layer as stored, deletion markers as OCI whiteout entries (``.wh.<name>``, ``.wh..wh..opq``)."""
        for entry in self.stack.walk_layer(layer, on_error=self._walk_error):
            if entry.marker == MARK_WHITEOUT:
                self.marker(entry, entry.path.rsplit(b'/', 1)[0] + b'/' + AUFS_WHITEOUT_PREFIX + entry.name)
            elif entry.marker == MARK_OPAQUE:
                self.marker(entry, entry.path)
            else:
                self.entry(entry, self.tar_name(entry.path, entry.kind))

    def finish(self):
        self.tar.close()
        self.report.finished_at = utc_now()
        if self.progress is not None:
            self.progress.update(self.tar.offset, self.report.entries, force=True)

    @staticmethod
    def tar_name(path, kind, name_base=None):
        name = path.lstrip(b'/')
        if name_base is not None:
            name = name[len(name_base.lstrip(b'/')):].lstrip(b'/') or b'.'
        if kind == DIRECTORY and not name.endswith(b'/'):
            name += b'/'
        return name

    def _walk_error(self, path, exc):
        self.report.unreadable.append({'path': display_path(path), 'error': 'directory not listed: %s' % (exc.strerror or exc)})

    def _tick(self):
        if self.size_limit is not None and self.tar.offset > self.size_limit:
            raise SizeLimitExceeded(self.tar.offset)
        now = time.monotonic()
        if now - self._last_check >= 1.0:
            self._last_check = now
            if self.alive is not None:
                self.alive()
        if self.progress is not None:
            self.progress.update(self.tar.offset, self.report.entries)

    # -- one entry -----------------------------------------------------------------

    def _owner(self, st):
        return self.ids.map(st.st_uid, st.st_gid) if self.ids is not None else (st.st_uid, st.st_gid)

    def _member(self, name, kind, st, **extra):
        uid, gid = self._owner(st)
        return Member(name, kind, stat.S_IMODE(st.st_mode), uid, gid, self.names.user(uid), self.names.group(gid),
                      mtime_ns=ns(st, 'st_mtime'), atime_ns=ns(st, 'st_atime'), ctime_ns=ns(st, 'st_ctime'), **extra)

    def _xattrs(self, entry, fd=None):
        try:
            return xattrs_of(entry.dir_fd, entry.disk_name, fd, skip=is_driver_xattr)
        except OSError as exc:
            self.report.notes.append('%s: extended attributes not read: %s' % (display_path(entry.path), exc.strerror or exc))
            return {}

    def entry(self, entry, name):
        self._tick()
        st = entry.stat
        kind = entry.kind
        if kind == FILE:
            return self._file(entry, name)
        if kind not in ('directory', 'symlink', 'fifo', 'socket', 'char_device', 'block_device'):
            self.report.skipped.append({'path': display_path(entry.path), 'reason': 'unknown file type %o' % st.st_mode})
            return
        linkname = b''
        if kind == SYMLINK:
            try:
                linkname = readlink_at(entry.dir_fd, entry.disk_name)
            except OSError as exc:
                self._unreadable(entry, exc)
                return
        elif kind != DIRECTORY and st.st_nlink > 1:
            if self._hardlink(entry, name, st):
                return
        member = self._member(name, kind, st, linkname=linkname,
                              devmajor=os.major(st.st_rdev) if kind in ('char_device', 'block_device') else 0,
                              devminor=os.minor(st.st_rdev) if kind in ('char_device', 'block_device') else 0,
                              xattrs=self._xattrs(entry))
        self.tar.add(member)
        self._done(kind)
        if kind != DIRECTORY and st.st_nlink > 1:
            self._links[(st.st_dev, st.st_ino)] = name

    def marker(self, entry, name):
        """A deletion marker as an empty OCI whiteout file carrying the marker's own times and owner."""
        self._tick()
        name = name.lstrip(b'/')
        st = entry.stat
        member = self._member(name, FILE, st)
        if not stat.S_ISREG(st.st_mode):
            member.mode = 0o600
        self.tar.add(member)
        self._done('whiteout' if entry.marker == MARK_WHITEOUT else 'opaque')
        record = {
            'path': display_path(entry.path if entry.marker == MARK_WHITEOUT else entry.path.rsplit(b'/', 1)[0] or b'/'),
            'tar_name': display_path(name),
            'layer': entry.layer.name,
            'on_disk': self._marker_form(entry),
            'uid': st.st_uid, 'gid': st.st_gid,
            'mtime': utc_from_timestamp(st.st_mtime), 'ctime': utc_from_timestamp(st.st_ctime),
        }
        (self.report.whiteouts if entry.marker == MARK_WHITEOUT else self.report.opaque_dirs).append(record)

    def _marker_form(self, entry):
        if entry.layer.base is not None:
            # vfs, overlay image layers: a full copy marks nothing; the deletion is computed.
            return 'absent from this full copy, present in the one below'
        if self.stack.whiteout_format == WHITEOUT_OVERLAY:
            if entry.marker == MARK_WHITEOUT:
                return 'character device 0/0'
            return 'directory attribute overlay.opaque=y'
        if entry.marker == MARK_WHITEOUT:
            return 'file %s' % display_path(entry.disk_name)
        return 'file %s' % display_path(AUFS_OPAQUE)

    def _done(self, kind):
        self.report.entries += 1
        self.report.count(kind)

    def _hardlink(self, entry, name, st):
        first = self._links.get((st.st_dev, st.st_ino))
        if first is None:
            return False
        member = self._member(name, 'hardlink', st, linkname=first)
        self.tar.add(member)
        self._done('hardlink')
        return True

    def _unreadable(self, entry, exc):
        self.report.unreadable.append({'path': display_path(entry.path), 'layer': entry.layer.name if entry.layer else None,
                                       'error': exc.strerror or str(exc)})

    def _file(self, entry, name):
        st = entry.stat
        if st.st_nlink > 1 and self._hardlink(entry, name, st):
            return
        try:
            fd, fst = open_file_at(entry.dir_fd, entry.disk_name)
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                self.report.changed.append({'path': display_path(entry.path), 'what': 'removed before it was read'})
                if self.alive is not None:
                    self.alive()  # a file gone may be the whole container going
                return
            self._unreadable(entry, exc)
            return
        try:
            if (fst.st_dev, fst.st_ino) != (st.st_dev, st.st_ino):
                self.report.changed.append({'path': display_path(entry.path), 'what': 'replaced between listing and reading'})
            sparse_map = None
            if fst.st_blocks * 512 < fst.st_size:
                sparse_map = data_segments(fd, fst.st_size)
            member = self._member(name, FILE, fst, size=fst.st_size, sparse_map=sparse_map,
                                  xattrs=self._xattrs(entry, fd))
            data_size = sum(length for _offset, length in sparse_map) if sparse_map else fst.st_size
            if self.max_data_bytes is not None and self.report.data_bytes + data_size > self.max_data_bytes:
                self.report.skipped.append({'path': display_path(entry.path), 'size': fst.st_size,
                                            'reason': 'over the size cap of %d bytes' % self.max_data_bytes})
                return
            self.tar.add(member)
            if self.tar.is_open and self.dry_run:
                self.tar.skip_data()
                self.tar.end()
            elif self.tar.is_open:
                self._copy(fd, entry, fst, sparse_map)
            self.report.data_bytes += data_size
            if sparse_map:
                self.report.sparse.append({'path': display_path(entry.path), 'size': fst.st_size, 'data_bytes': data_size})
            self._done(FILE)
            if fst.st_nlink > 1:
                self._links[(st.st_dev, st.st_ino)] = name
        finally:
            os.close(fd)

    def _copy(self, fd, entry, fst, sparse_map):
        segments = [(offset, length) for offset, length in sparse_map if length] if sparse_map else [(0, fst.st_size)]
        problem = None
        view = self._view
        for offset, length in segments:
            position, end = offset, offset + length
            while position < end:
                try:
                    got = os.preadv(fd, [view[:min(READ_CHUNK, end - position)]], position)
                except OSError as exc:
                    problem = 'read failed at byte %d: %s' % (position, exc.strerror or exc)
                    break
                if not got:
                    problem = 'shrank to %d bytes while read' % position
                    break
                self.tar.data(view[:got])
                position += got
                if self.progress is not None:
                    self.progress.update(self.tar.offset, self.report.entries)
            if problem:
                break
        if problem:
            filled = self.tar.pad_missing()
            self.report.changed.append({'path': display_path(entry.path), 'what': problem,
                                        'zero_filled_bytes': filled})
        self.tar.end()
        if problem is None:
            after = os.fstat(fd)
            if after.st_size != fst.st_size or ns(after, 'st_mtime') != ns(fst, 'st_mtime'):
                self.report.changed.append({'path': display_path(entry.path),
                                            'what': 'modified while read (size %d -> %d)' % (fst.st_size, after.st_size)})
