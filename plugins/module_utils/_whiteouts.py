# -*- coding: utf-8 -*-
# Copyright: dfir.docker contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Deletion markers in a container's layers: what each one hides, where that came from, and the originals.

Private to the collection.  Pure Python, standard library only.

On overlay and aufs a deletion never destroys what a lower layer holds: the
writable layer (or a later image layer) gets a marker and the original stays
below.  For one layer of a `_layers.LayerStack`:

1. `scan_markers` walks the layer once and lists its markers: overlay
   whiteouts (0/0 character devices), opaque directories (``trusted.`` or
   ``user.overlay.opaque=y``), aufs ``.wh.<name>`` files and
   ``.wh..wh..opq``; and the directories a ``redirect_dir`` rename left
   (``overlay.redirect``).  It stats nothing but character devices, so it
   costs about what ``find -type c`` costs.
2. `MarkerAnalysis` says, for each marker, what it hides in the layers
   below it: every lower layer's copy of the path (diff id, index, the build
   step that made it, type, size, mode, owner, mtime, SHA-256), and for a
   deleted or replaced directory every entry under it, streamed one record
   at a time.  An opaque directory with nothing below it is a new directory,
   not a deletion; a whiteout left by a directory rename is a rename.
3. `RecoveryExport` writes the hidden originals into a tar (`_fs_export`).

Everything is read through the stack's `ReadOnlyTree` (by descriptor, no
symlink followed, no access time changed); names are bytes, shown with
`_safe_io.display_path`.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import errno
import gzip
import hashlib
import json
import os
import stat

from ansible_collections.dfir.docker.plugins.module_utils._fs_export import TarExport
from ansible_collections.dfir.docker.plugins.module_utils._layers import (
    AUFS_META,
    AUFS_OPAQUE,
    AUFS_WHITEOUT_PREFIX,
    BLOCKDEV,
    CHARDEV,
    DIRECTORY,
    FILE,
    MARK_OPAQUE,
    MARK_WHITEOUT,
    OPAQUE_XATTRS,
    SYMLINK,
    WHITEOUT_AUFS,
    WHITEOUT_OVERLAY,
    Entry,
    LayerStack,
    is_overlay_whiteout,
    join_path,
    kind_of,
    split_path,
)
from ansible_collections.dfir.docker.plugins.module_utils._safe_io import (
    describe_os_error,
    display_path,
    utc_from_timestamp,
)
from ansible_collections.dfir.docker.plugins.module_utils._tree import (
    getxattr_fd,
    open_dir_at,
    open_file_at,
    readlink_at,
)

# overlayfs with redirect_dir: a renamed lower directory keeps the path of its
# lower original here (absolute from the layer root, or a name in the same parent).
REDIRECT_XATTRS = ('trusted.overlay.redirect', 'user.overlay.redirect')
# overlayfs with metacopy: a file whose metadata was copied up without its data.
METACOPY_XATTRS = ('trusted.overlay.metacopy', 'user.overlay.metacopy')

# What a marker did to the view of the layers below it.
DELETED = 'deleted'                # a whiteout over a visible entry
REPLACED = 'replaced'              # an opaque directory over a visible entry
NEW_DIRECTORY = 'new_directory'    # an opaque directory with nothing below: not a deletion
RENAMED = 'renamed'                # the whiteout a redirect_dir rename leaves at the old name
NOTHING_VISIBLE = 'nothing_visible'  # what it names below was already hidden there
NOTHING_BELOW = 'nothing_below'    # no lower layer holds the path (or those that would are unreadable)

SHARED_INODE_NOTE = ('whiteouts with shared_inode are hard links to one inode (overlayfs on recent kernels): its mtime '
                     'is when the first of them was made, its ctime when a link to it last changed, not the time of '
                     'each deletion; directory_mtime, the last change of the directory holding each, is closer')
_NO_XATTR = (errno.ENODATA, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EPERM, errno.EACCES)
HASH_CHUNK = 1024 * 1024
TICK_ENTRIES = 4096


def layer_ref(layer, full=False):
    """Who a layer is, for a record: index and role, diff id of an image layer, and (full) its build step."""
    ref = {'index': layer.index, 'role': layer.role}
    if layer.diff_id:
        ref['diff_id'] = layer.diff_id
    if full:
        if layer.created_by is not None:
            ref['created_by'] = layer.created_by
        if layer.mount_id:
            ref['mount_id'] = layer.mount_id
    return ref


def owner(st, ids=None):
    """(uid, gid) as the container saw them (a userns-remapped root is mapped back)."""
    if ids is not None:
        return ids.map(st.st_uid, st.st_gid)
    return st.st_uid, st.st_gid


def entry_info(st, kind=None, ids=None):
    """Type, size, mode, owner and times of one entry, for a record."""
    kind = kind or kind_of(st.st_mode)
    uid, gid = owner(st, ids)
    info = {'type': kind, 'size': st.st_size, 'mode': '%04o' % stat.S_IMODE(st.st_mode), 'uid': uid, 'gid': gid,
            'mtime': utc_from_timestamp(st.st_mtime), 'ctime': utc_from_timestamp(st.st_ctime)}
    if kind in (CHARDEV, BLOCKDEV):
        info['device'] = '%d:%d' % (os.major(st.st_rdev), os.minor(st.st_rdev))
    return info


def overlay_attribute(fd, names):
    """(attribute name, value) of the first of `names` set on an open directory or file, or (None, None)."""
    for attr in names:
        value = getxattr_fd(fd, attr)
        if value is not None:
            return attr, value
    return None, None


def redirect_origin(parent_origin, value):
    """The lower path (components) an ``overlay.redirect`` value points to."""
    if value.startswith(b'/'):
        return split_path(value)
    return parent_origin + split_path(value)


class Hasher:
    """SHA-256 of files opened beside their directory (O_NOATIME, never through a symlink), one buffer reused."""

    def __init__(self):
        self._buffer = bytearray(HASH_CHUNK)
        self._view = memoryview(self._buffer)
        self.files = 0
        self.bytes = 0

    def file_at(self, dir_fd, name, listed=None):
        """(hex digest or None, problem or None) of the regular file `name` in `dir_fd`.

        `listed` is the stat the caller saw; a file replaced or changed since
        is still hashed, and the problem says so.
        """
        try:
            fd, st = open_file_at(dir_fd, name)
        except OSError as exc:
            return None, 'not read: %s' % describe_os_error(exc)
        problem = None
        try:
            if listed is not None and (st.st_dev, st.st_ino) != (listed.st_dev, listed.st_ino):
                problem = 'replaced between listing and reading'
            digest = hashlib.sha256()
            view = self._view
            total = 0
            while True:
                got = os.readv(fd, [view])
                if not got:
                    break
                digest.update(view[:got])
                total += got
            after = os.fstat(fd)
            if after.st_size != total or after.st_mtime_ns != st.st_mtime_ns:
                problem = 'changed while read (%d bytes read, now %d)' % (total, after.st_size)
        except OSError as exc:
            return None, 'read failed: %s' % describe_os_error(exc)
        finally:
            os.close(fd)
        self.files += 1
        self.bytes += total
        return digest.hexdigest(), problem


def describe_content(info, dir_fd, name, kind, st, hasher):
    """Add what an entry holds to its info: the SHA-256 of a file, the target of a symlink."""
    if kind == FILE and hasher is not None:
        digest, problem = hasher.file_at(dir_fd, name, st)
        info['sha256'] = digest
        if problem:
            info['problem'] = problem
    elif kind == SYMLINK:
        try:
            info['link_target'] = display_path(readlink_at(dir_fd, name))
        except OSError as exc:
            info['problem'] = 'link not read: %s' % describe_os_error(exc)
    return info


# -- 1. the scan -------------------------------------------------------------------------------


class Marker:
    """One deletion marker of a layer: where it is, what path below it names, its own stat."""

    __slots__ = ('parts', 'origin', 'kind', 'stat', 'on_disk', 'directory_stat')

    def __init__(self, parts, origin, kind, st, on_disk, directory_stat=None):
        self.parts = parts      # components of the container path
        self.origin = origin    # components of the path it names below (differs inside a renamed directory)
        self.kind = kind        # MARK_WHITEOUT or MARK_OPAQUE
        self.stat = st          # the marker's own stat: the device, the .wh. file, or the opaque directory
        self.on_disk = on_disk  # how the driver wrote it
        self.directory_stat = directory_stat  # the directory holding a whiteout, in the same layer

    @property
    def path(self):
        return join_path(self.parts)

    @property
    def origin_path(self):
        return join_path(self.origin)


class LayerScan:
    """The markers of one layer and the renamed directories in it, from one walk."""

    def __init__(self, layer):
        self.layer = layer
        self.markers = []
        self.redirects = {}      # origin path (bytes) -> path of the renamed directory (bytes)
        self.entries = 0
        self.directories = 0
        self.unreadable = []     # {'path', 'error'}

    def sort(self):
        self.markers.sort(key=lambda marker: (marker.parts, marker.kind))

    def counts(self):
        whiteouts = sum(1 for marker in self.markers if marker.kind == MARK_WHITEOUT)
        return {'markers': len(self.markers), 'whiteouts': whiteouts, 'opaque_dirs': len(self.markers) - whiteouts,
                'renamed_dirs': len(self.redirects), 'entries_scanned': self.entries}


def scan_markers(stack, layer, tick=None):
    """Walk one layer of `stack` and return its LayerScan.

    Depth first, one open directory per level (no recursion limit, no
    descriptor per sibling).  Only character devices are stat'ed (an overlay
    whiteout is one); directories are asked for their overlay attributes.
    `tick()` is called now and then (progress, is the container still there).
    Raises OSError when the layer's own directory cannot be opened.
    """
    scan = LayerScan(layer)
    fmt = stack.whiteout_format
    if layer.full_copy:
        return _scan_full_copy(scan, stack, layer, tick)
    root = stack.tree.open_dir(layer.parts)
    frames = []
    try:
        subdirs = _scan_dir(scan, fmt, [], [], root, tick)
        frames.append(([], _origin_of(scan, [], [], root, fmt, is_root=True), root, iter(subdirs)))
        while frames:
            parts, origin, fd, children = frames[-1]
            name = next(children, None)
            if name is None:
                os.close(fd)
                frames.pop()
                continue
            child_parts = parts + [name]
            try:
                child = open_dir_at(fd, name)
            except OSError as exc:
                if exc.errno not in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
                    scan.unreadable.append({'path': display_path(join_path(child_parts)),
                                            'error': describe_os_error(exc)})
                continue
            try:
                child_origin = _origin_of(scan, child_parts, origin + [name], child, fmt)
                subdirs = _scan_dir(scan, fmt, child_parts, child_origin, child, tick)
            except OSError as exc:
                os.close(child)
                scan.unreadable.append({'path': display_path(join_path(child_parts)), 'error': describe_os_error(exc)})
                continue
            frames.append((child_parts, child_origin, child, iter(subdirs)))
    finally:
        for _parts, _origin, fd, _children in frames:
            os.close(fd)
    scan.sort()
    return scan


# How a computed deletion shows on disk: it does not; the layer below holds the name, this one does not.
ABSENT_FROM_FULL_COPY = 'absent from this full copy, present in the one below'


def _scan_full_copy(scan, stack, layer, tick):
    """The deletions of a full-copy layer (vfs, overlay's image layers), computed against the copy below.

    These drivers leave no marker: Docker applies a deletion to the copy. What the
    layer below holds and this one does not is a deletion made in this layer, as
    `docker diff` finds it on these drivers. The marker's stat is its directory's.
    """
    def unreadable(path, exc):
        scan.unreadable.append({'path': display_path(path), 'error': describe_os_error(exc)})

    for entry in stack.walk_layer(layer, on_error=unreadable):
        scan.entries += 1
        if tick is not None and scan.entries % TICK_ENTRIES == 0:
            tick()
        if entry.kind == DIRECTORY and not entry.marker:
            scan.directories += 1
        if entry.marker == MARK_WHITEOUT:
            parts = split_path(entry.path)
            scan.markers.append(Marker(parts, list(parts), MARK_WHITEOUT, entry.stat, ABSENT_FROM_FULL_COPY, entry.stat))
    scan.sort()
    return scan


def _origin_of(scan, parts, origin, fd, fmt, is_root=False):
    """The directory's lower path; records an overlay opaque marker or a redirect on the way."""
    scan.directories += 1
    if fmt != WHITEOUT_OVERLAY:
        return origin
    try:
        names = os.listxattr(fd)
    except OSError as exc:
        if exc.errno in _NO_XATTR:
            return origin
        raise
    if not names:
        return origin
    for attr in REDIRECT_XATTRS:
        if attr in names and not is_root:
            value = getxattr_fd(fd, attr)
            if value:
                origin = redirect_origin(origin[:-1], value)
                scan.redirects[join_path(origin)] = join_path(parts)
            break
    for attr in OPAQUE_XATTRS:
        if attr in names:
            value = getxattr_fd(fd, attr)
            if value is not None and value.strip() == b'y':
                scan.markers.append(Marker(parts, origin, MARK_OPAQUE, os.fstat(fd),
                                           'directory attribute %s=y' % attr))
                break
    return origin


def _scan_dir(scan, fmt, parts, origin, fd, tick):
    """List one directory: record its whiteouts (and aufs opacity); return its subdirectories, sorted."""
    subdirs = []
    aufs = fmt == WHITEOUT_AUFS
    overlay = fmt == WHITEOUT_OVERLAY
    directory = []   # its stat, taken once, when it holds a whiteout

    def directory_stat():
        if not directory:
            directory.append(os.fstat(fd))
        return directory[0]

    with os.scandir(fd) as entries:
        for entry in entries:
            scan.entries += 1
            if tick is not None and scan.entries % TICK_ENTRIES == 0:
                tick()
            if aufs and entry.name.startswith('.wh.'):
                name = os.fsencode(entry.name)
                if name in AUFS_META:
                    continue  # aufs bookkeeping, never container data
                try:
                    st = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue
                if name == AUFS_OPAQUE:
                    scan.markers.append(Marker(parts, origin, MARK_OPAQUE, st, 'file %s' % display_path(AUFS_OPAQUE)))
                else:
                    deleted = name[len(AUFS_WHITEOUT_PREFIX):]
                    scan.markers.append(Marker(parts + [deleted], origin + [deleted], MARK_WHITEOUT, st,
                                               'file %s' % display_path(name), directory_stat()))
                continue
            if entry.is_dir(follow_symlinks=False):
                subdirs.append(os.fsencode(entry.name))
            elif overlay and not entry.is_file(follow_symlinks=False) and not entry.is_symlink():
                try:
                    st = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue  # removed while listed (a running container)
                if is_overlay_whiteout(st):
                    name = os.fsencode(entry.name)
                    scan.markers.append(Marker(parts + [name], origin + [name], MARK_WHITEOUT, st,
                                               'character device 0/0', directory_stat()))
    subdirs.sort()
    return subdirs


# -- the layer as it was committed or pulled ----------------------------------------------------


def recorded_markers(handle):
    """(kind, components) of every deletion marker a layer's tar-split file records.

    Docker keeps, for each image layer, the headers of the tar it was made
    from (``layerdb/sha256/<chain id>/tar-split.json.gz``; ``graph/<id>/
    tar-data.json.gz`` in the v1 layout), whiteouts as ``.wh.<name>`` and
    ``.wh..wh..opq`` entries.  A marker recorded there but absent from the
    layer directory was lost (a copy without device files) or removed; one on
    disk but not recorded was added after the layer was made.  `handle` is
    the decompressed file, read line by line.
    """
    for line in handle:
        entry = json.loads(line)
        if entry.get('type') != 1:
            continue
        if entry.get('name_raw'):
            name = base64.b64decode(entry['name_raw'])
        else:
            name = (entry.get('name') or '').encode('utf-8', 'surrogateescape')
        parts = split_path(name)
        if not parts or not parts[-1].startswith(AUFS_WHITEOUT_PREFIX):
            continue
        if parts[-1] == AUFS_OPAQUE:
            yield MARK_OPAQUE, parts[:-1]
        elif not parts[-1].startswith(AUFS_WHITEOUT_PREFIX * 2):
            yield MARK_WHITEOUT, parts[:-1] + [parts[-1][len(AUFS_WHITEOUT_PREFIX):]]


def read_recorded_markers(tree, path):
    """The set of (kind, tuple of components) a tar-split file records, read through `tree`; OSError if unreadable."""
    parts = tree.relative(path)
    if not parts:
        raise OSError(errno.EINVAL, 'not inside the Docker root', path)
    parent = tree.open_dir(parts[:-1])
    try:
        fd, _st = open_file_at(parent, parts[-1])
    finally:
        os.close(parent)
    with os.fdopen(fd, 'rb') as raw:
        try:
            with gzip.GzipFile(fileobj=raw) as handle:
                return set((kind, tuple(found)) for kind, found in recorded_markers(handle))
        except (EOFError, ValueError, OSError) as exc:
            raise OSError(errno.EIO, 'not a readable tar-split file: %s' % exc, path)


# -- 2. what each marker hides -------------------------------------------------------------------


class _ParentBelow:
    """One directory as each layer below holds it, and as their merged view holds it, opened once.

    Markers come sorted, so those of one directory (a cleaned-up /tmp, a
    thousand deleted files) share it instead of each walking down again.
    """

    def __init__(self, below, parts):
        self.below = below
        self.parts = parts
        self.each = []      # (layer, fd) newest first: the directory in every layer that has it
        self.merged = []    # (layer, fd) newest first: the layers the merged view reads it from
        try:
            for layer in reversed(below.layers):
                if layer.error is not None:
                    continue
                try:
                    self.each.append((layer, below.tree.open_dir(layer.parts + parts)))
                except OSError:
                    continue
            self.merged = below.merged_dir(join_path(parts))
        except BaseException:
            self.close()
            raise

    def close(self):
        for _layer, fd in self.each + self.merged:
            os.close(fd)
        self.each, self.merged = [], []

    def versions(self, name):
        """Every layer's entry for `name` (whiteouts included), newest first, and the index of the visible one."""
        path = join_path(self.parts + [name])
        found = []
        for layer, fd in self.each:
            state = self.below.probe(layer, fd, name, self.parts)
            if state is None:
                continue
            if state == MARK_WHITEOUT and layer.base is not None:
                # A full copy that lacks what the one below holds: nothing on disk marks it.
                found.append(Entry(path, name, layer, fd, os.fstat(fd), kind=MARK_WHITEOUT, marker=MARK_WHITEOUT))
            elif state == MARK_WHITEOUT:
                disk_name = name if self.below.whiteout_format == WHITEOUT_OVERLAY else AUFS_WHITEOUT_PREFIX + name
                found.append(Entry(path, name, layer, fd, os.stat(disk_name, dir_fd=fd, follow_symlinks=False),
                                   kind=MARK_WHITEOUT, marker=MARK_WHITEOUT, disk_name=disk_name))
            else:
                found.append(Entry(path, name, layer, fd, state))
        shown = None
        for layer, fd in self.merged:
            state = self.below.probe(layer, fd, name, self.parts)
            if state is None:
                continue
            if state != MARK_WHITEOUT:
                shown = layer
            break
        visible = None
        for index, entry in enumerate(found):
            if entry.layer is shown and not entry.marker:
                visible = index
                break
        return found, visible


class MarkerAnalysis:
    """The records of one layer's markers: each marker, then every entry it hides under it.

    `records()` yields dicts, one per JSON line, never the whole list: a
    deleted /usr is streamed entry by entry.  Counts are kept in `counts`.
    """

    def __init__(self, stack, scan, hasher=None, ids=None, tick=None, recorded=None):
        """`recorded`: the markers the layer's tar-split records (`read_recorded_markers`), when known."""
        self.stack = stack
        self.recorded = recorded
        self.scan = scan
        self.layer = scan.layer
        position = stack.layers.index(self.layer)
        # The view below the marker's layer: what the marker hides is what that view shows.
        self.below = LayerStack(stack.tree, stack.layers[:position], stack.whiteout_format)
        self.hasher = hasher
        self.ids = ids
        self.tick = tick
        self.counts = dict((key, 0) for key in (DELETED, REPLACED, NEW_DIRECTORY, RENAMED, NOTHING_VISIBLE,
                                                NOTHING_BELOW, 'hidden_entries', 'hidden_files', 'hidden_bytes',
                                                'markers_missing', 'markers_not_recorded', 'shared_inode_markers'))
        self.problems = []
        self.recoverable = []    # (marker, origin bytes, path bytes) whose hidden originals can be recovered
        self._parent = None      # the _ParentBelow of the last marker's directory

    def unreadable_below(self):
        return [layer for layer in self.below.layers if layer.error]

    def records(self):
        try:
            for marker in self.scan.markers:
                yield from self._marker_records(marker)
            if self.recorded is not None:
                found = set((marker.kind, tuple(marker.parts)) for marker in self.scan.markers)
                for kind, parts in sorted(self.recorded - found, key=lambda item: (item[1], item[0])):
                    yield self._missing(kind, list(parts))
        finally:
            if self._parent is not None:
                self._parent.close()
                self._parent = None

    def _versions(self, parts):
        """Every lower layer's entry for a path (see LayerStack.versions), its parent opened once per directory."""
        if not parts:
            root = self.below.lookup(b'/')   # an opaque root: every layer below is hidden
            return ([root], 0) if root is not None else ([], None)
        if self._parent is None or self._parent.parts != parts[:-1]:
            if self._parent is not None:
                self._parent.close()
                self._parent = None
            self._parent = _ParentBelow(self.below, parts[:-1])
        return self._parent.versions(parts[-1])

    def _missing(self, kind, parts):
        """A marker the layer's tar-split records that its directory does not hold."""
        self.counts['markers_missing'] += 1
        path = join_path(parts)
        versions, visible = self._versions(parts) if parts else ([], None)
        return {
            'record': 'marker_missing',
            'path': display_path(path),
            'marker': kind,
            'layer': layer_ref(self.layer, full=True),
            'note': 'the layer\'s tar-split file records this marker, its directory does not hold it: the copy lost '
                    'it (device files not copied) or it was removed; what it deleted shows through',
            'would_hide': [self._version(entry, index == visible) for index, entry in enumerate(versions)],
        }

    def _marker_records(self, marker):
        origin = marker.origin_path
        versions, visible = self._versions(marker.origin)
        shown = versions[visible] if visible is not None else None
        effect = self._effect(marker, versions, shown)
        self.counts[effect] += 1
        record = {
            'record': 'marker',
            'path': display_path(marker.path),
            'marker': marker.kind,
            'effect': effect,
            'on_disk': marker.on_disk,
            'layer': layer_ref(self.layer, full=True),
            'marker_stat': self._marker_stat(marker.stat, marker.directory_stat),
            'hides': [self._version(entry, index == visible) for index, entry in enumerate(versions)],
        }
        if self.recorded is not None:
            record['recorded_in_layer_tar'] = (marker.kind, tuple(marker.parts)) in self.recorded
            if not record['recorded_in_layer_tar']:
                self.counts['markers_not_recorded'] += 1
        if marker.origin != marker.parts:
            record['origin'] = display_path(origin)
        if effect == RENAMED:
            record['renamed_to'] = display_path(self.scan.redirects[origin])
        if effect == NOTHING_BELOW and self.unreadable_below():
            record['note'] = 'layers below cannot be read: %s' % ', '.join(layer.name for layer in self.unreadable_below())
        below_dir = effect in (DELETED, REPLACED) and shown is not None and shown.kind == DIRECTORY
        record['hidden_entries_follow'] = below_dir
        yield record
        if effect in (DELETED, REPLACED) and shown is not None:
            self.recoverable.append((marker, origin, marker.path))
        if below_dir:
            yield from self._hidden_under(marker, origin)

    def _effect(self, marker, versions, shown):
        if marker.kind == MARK_OPAQUE:
            return REPLACED if shown is not None else NEW_DIRECTORY
        if join_path(marker.origin) in self.scan.redirects:
            return RENAMED
        if shown is not None:
            return DELETED
        if any(not entry.marker for entry in versions):
            return NOTHING_VISIBLE
        return NOTHING_BELOW

    def _marker_stat(self, st, directory_st=None):
        uid, gid = owner(st, self.ids)
        info = {'uid': uid, 'gid': gid, 'mode': '%04o' % stat.S_IMODE(st.st_mode),
                'mtime': utc_from_timestamp(st.st_mtime), 'ctime': utc_from_timestamp(st.st_ctime),
                'inode': st.st_ino, 'links': st.st_nlink}
        if directory_st is not None:
            info['directory_mtime'] = utc_from_timestamp(directory_st.st_mtime)
        if st.st_nlink > 1 and not stat.S_ISDIR(st.st_mode):
            # Recent kernels make each whiteout a hard link to one shared inode: its
            # times are not this deletion's (see SHARED_INODE_NOTE).
            info['shared_inode'] = True
            self.counts['shared_inode_markers'] += 1
        return info

    def _version(self, entry, was_visible):
        """One lower layer's copy of the path (or its own deletion marker)."""
        item = {'layer': layer_ref(entry.layer, full=True), 'was_visible': was_visible}
        if entry.marker:
            item['marker'] = entry.marker
            return item
        item.update(entry_info(entry.stat, entry.kind, self.ids))
        if entry.path == b'/':
            return item
        describe_content(item, entry.dir_fd, entry.disk_name, entry.kind, entry.stat, self.hasher)
        self._count_content(item)
        return item

    def _count_content(self, item):
        if item.get('sha256'):
            self.counts['hidden_files'] += 1
            self.counts['hidden_bytes'] += item['size']
        if item.get('problem'):
            self.problems.append('%s: %s' % (item.get('path') or 'a hidden entry', item['problem']))

    def _hidden_under(self, marker, origin):
        """Every entry the marker hides under the path: the view below, each from its own layer."""
        def unreadable(path, exc):
            self.problems.append('%s (below %s): directory not listed: %s'
                                 % (display_path(path), self.layer.name, describe_os_error(exc)))
        under = display_path(marker.path)
        for entry in self.below.walk(origin, on_error=unreadable):
            if entry.path == origin:
                continue
            if self.tick is not None:
                self.tick()
            path = marker.path + entry.path[len(origin):] if origin != marker.path else entry.path
            item = {'record': 'hidden', 'path': display_path(path), 'under': under,
                    'marker_layer': self.layer.index, 'layer': layer_ref(entry.layer)}
            item.update(entry_info(entry.stat, entry.kind, self.ids))
            describe_content(item, entry.dir_fd, entry.disk_name, entry.kind, entry.stat, self.hasher)
            self.counts['hidden_entries'] += 1
            self._count_content(item)
            yield item


# -- 3. the originals back -------------------------------------------------------------------------


def recovery_prefix(layer):
    """The top directory of a layer's recovered originals in the tar."""
    if layer.role == 'image':
        return 'image-layer-%d' % layer.index
    return '%s-layer' % layer.role


class RecoveryExport(TarExport):
    """Hidden originals written as ``<layer prefix>/<container path>``: the view below each marker."""

    def recover(self, below, origin, path, prefix):
        """Write everything at and under `origin` in the view `below`, named as the container path `path`."""
        self.stack = below
        prefix = prefix.encode('ascii') + b'/'
        top = origin.rstrip(b'/') + b'/'
        for entry in below.walk(origin, on_error=self._walk_error):
            if entry.path == b'/':
                continue
            shown = entry.path
            if origin != path and (shown == origin or shown.startswith(top)):
                shown = path + shown[len(origin):]
            self.entry(entry, prefix + TarExport.tar_name(shown, entry.kind))
