# -*- coding: utf-8 -*-
# Copyright: dfir.docker contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The userspace layer resolver: a container's filesystem from its layers, without mounting.

Private to the collection.  Pure Python, standard library only.

A `LayerStack` is the ordered list of a container's layer directories,
oldest first: the image layers, the init layer, the writable (container)
layer.  From it, the merged view the container saw is computed the way
overlayfs and aufs compute it, by listing directories (never following a
symlink, never opening one through the host's path lookup):

- a name in a newer layer hides the same name in older ones;
- a whiteout deletes a name from the layers below it: a 0/0 character
  device (overlay, overlay2) or a ``.wh.<name>`` file (aufs);
- an opaque directory hides the content of the same directory below it:
  the ``trusted.overlay.opaque`` (or ``user.overlay.opaque``) attribute set
  to ``y``, or a ``.wh..wh..opq`` file inside it (aufs);
- a directory merges with the directories of the same name below it until
  an opaque one, a whiteout or a non-directory stops it.

Every name is raw bytes.  Paths inside the container resolve inside the
container root: an absolute symlink starts again at the container's ``/``
and ``..`` stops at it, so ``/leak -> /etc/shadow`` is the container's
shadow file, never the host's.

Besides the merged view (`walk`, `lookup`, `resolve`), the stack gives what
lies under it, for finding deleted and replaced files: `walk_layer` lists
one layer as stored, whiteouts and opaque markers included (`Entry.marker`),
and `versions` gives every layer's entry for one path, newest first.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import fnmatch
import os
import stat

from ansible_collections.dfir.docker.plugins.module_utils._tree import (
    getxattr_fd,
    lstat_at,
    open_dir_at,
    readlink_at,
)

WHITEOUT_OVERLAY = 'overlay'
WHITEOUT_AUFS = 'aufs'

AUFS_WHITEOUT_PREFIX = b'.wh.'
AUFS_OPAQUE = b'.wh..wh..opq'
# aufs keeps its own bookkeeping at the top of each branch; never container data.
AUFS_META = (b'.wh..wh.plnk', b'.wh..wh.aufs', b'.wh..wh.orph')
OPAQUE_XATTRS = ('trusted.overlay.opaque', 'user.overlay.opaque')

MAX_SYMLINKS = 40

# Entry kinds
FILE, DIRECTORY, SYMLINK, HARDLINK, FIFO, SOCKET, CHARDEV, BLOCKDEV = (
    'file', 'directory', 'symlink', 'hardlink', 'fifo', 'socket', 'char_device', 'block_device')
# Markers (walk_layer and versions only)
MARK_WHITEOUT = 'whiteout'
MARK_OPAQUE = 'opaque'


_KINDS = {stat.S_IFREG: FILE, stat.S_IFDIR: DIRECTORY, stat.S_IFLNK: SYMLINK, stat.S_IFIFO: FIFO,
          stat.S_IFSOCK: SOCKET, stat.S_IFCHR: CHARDEV, stat.S_IFBLK: BLOCKDEV}


def kind_of(mode):
    return _KINDS.get(stat.S_IFMT(mode), 'unknown')


def is_overlay_whiteout(st):
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def is_driver_xattr(name):
    """Attributes overlayfs keeps for itself (opaque, redirect, origin...): not container data."""
    return name.startswith('trusted.overlay.') or name.startswith('user.overlay.')


def split_path(path):
    """Components of a container path, as bytes; '.' and empty parts dropped."""
    if isinstance(path, str):
        path = os.fsencode(path)
    return [part for part in path.split(b'/') if part and part != b'.']


def join_path(parts):
    return b'/' + b'/'.join(parts)


class LayerError(Exception):
    """A path could not be resolved in the stack; `errno` says why when known."""

    def __init__(self, message, code=None):
        Exception.__init__(self, message)
        self.errno = code


class Layer:
    """One directory of the stack and who it is."""

    def __init__(self, index, role, host_dir, diff_id=None, chain_id=None, cache_id=None, mount_id=None,
                 created_by=None, created=None, size=None, full_copy=False):
        self.index = index          # 0 = oldest
        self.role = role            # 'image', 'init', 'container', or 'tree' (a plain directory)
        self.host_dir = host_dir    # absolute host path (str)
        self.diff_id = diff_id
        self.chain_id = chain_id
        self.cache_id = cache_id
        self.mount_id = mount_id
        self.created_by = created_by
        self.created = created
        self.size = size
        self.full_copy = full_copy  # the driver keeps a whole filesystem here, not a diff
        self.base = None            # the full copy below it that it is read against (set by LayerStack)
        self.parts = None           # components below the tree; set by LayerStack
        self.error = None           # why it cannot be read, when it cannot

    @property
    def name(self):
        if self.role == 'image':
            return 'image layer %d (%s)' % (self.index, self.diff_id or self.cache_id or self.host_dir)
        if self.role == 'init':
            return 'init layer (%s)' % (self.mount_id or self.host_dir)
        if self.role == 'container':
            return 'container layer (%s)' % (self.mount_id or self.host_dir)
        return self.host_dir

    def describe(self):
        info = {'index': self.index, 'role': self.role, 'dir': self.host_dir}
        for key in ('diff_id', 'chain_id', 'cache_id', 'mount_id', 'created_by', 'created', 'size'):
            value = getattr(self, key)
            if value is not None:
                info[key] = value
        if self.full_copy:
            info['full_copy'] = True
            if self.base is not None:
                info['compared_with'] = self.base.index
        info['readable'] = self.error is None
        if self.error:
            info['error'] = self.error
        return info


class Entry:
    """One name as a layer holds it, or as the merged view shows it.

    `path` is the container path (bytes, absolute); `layer` the layer the
    entry comes from; `dir_fd` its parent directory in that layer (valid
    while the walk or the `lookup` that produced it is on it); `stat` the
    lstat of the entry in that layer.  In walk_layer and versions, `marker`
    is 'whiteout' or 'opaque' for deletion markers (for an aufs whiteout,
    `name` is the deleted name and `disk_name` the ``.wh.`` file).
    """

    __slots__ = ('path', 'name', 'disk_name', 'layer', 'dir_fd', 'stat', 'kind', 'marker', 'dir_layers', 'opaque')

    def __init__(self, path, name, layer, dir_fd, st, kind=None, marker=None, disk_name=None):
        self.path = path
        self.name = name
        self.disk_name = disk_name or name
        self.layer = layer
        self.dir_fd = dir_fd
        self.stat = st
        self.kind = kind or kind_of(st.st_mode)
        self.marker = marker
        self.dir_layers = None   # for a merged directory: candidate (layer, parent fd) pairs, newest first
        self.opaque = False      # for a directory in walk_layer: it hides the layers below

    @property
    def host_path(self):
        """The host path of the entry, as bytes (for the record; never opened by name)."""
        parent = self.path.rsplit(b'/', 1)[0]
        return os.fsencode(self.layer.host_dir) + parent + b'/' + self.disk_name

    def __repr__(self):
        return 'Entry(%r, %s, %s%s)' % (self.path, self.kind, self.layer.name, ', %s' % self.marker if self.marker else '')


class _Absent:
    """A name the full copy below holds and this full copy does not: a deletion with nothing on disk.

    It stands where a whiteout's directory entry would; its stat is the one of the
    directory that lost the name in this layer (its mtime is when a name there was
    last added or removed).
    """

    __slots__ = ('name', '_st')

    def __init__(self, name, dir_st):
        self.name = os.fsdecode(name)
        self._st = dir_st

    def stat(self, follow_symlinks=False):
        return self._st


def same_version(below, above):
    """True when two lstats show the same entry, as Docker's naive diff decides it (archive.ChangesDirs).

    vfs and the overlay driver's image layers keep full copies, and Docker itself
    finds what a layer changed by comparing it with its parent this way: type and
    mode, owner and device number; for anything but a directory also size and
    mtime (nanoseconds). Copies keep their times (vfs) or are hard links (overlay).
    """
    if (below.st_mode, below.st_uid, below.st_gid, below.st_rdev) != (above.st_mode, above.st_uid, above.st_gid,
                                                                      above.st_rdev):
        return False
    if stat.S_ISDIR(above.st_mode):
        return True
    return below.st_size == above.st_size and below.st_mtime_ns == above.st_mtime_ns


class _Listing:
    """One directory of one layer, listed once: names, whiteouts, aufs markers."""

    __slots__ = ('entries', 'whiteouts', 'opaque', 'markers')

    def __init__(self):
        self.entries = {}    # name -> DirEntry
        self.whiteouts = {}  # deleted name -> DirEntry of the marker
        self.opaque = False  # aufs: .wh..wh..opq is here (overlay keeps opacity in an xattr)
        self.markers = []    # aufs: DirEntry of .wh..wh..opq and bookkeeping dirs


class LayerStack:
    """A container's layers, oldest first, read through one ReadOnlyTree."""

    def __init__(self, tree, layers, whiteout_format=WHITEOUT_OVERLAY):
        self.tree = tree
        self.layers = list(layers)
        self.whiteout_format = whiteout_format
        self.problems = []
        for layer in self.layers:
            if layer.error:
                continue
            parts = tree.relative(layer.host_dir)
            if parts is None:
                layer.error = '%s is outside %s' % (layer.host_dir, tree.path)
            else:
                layer.parts = parts
        for below, layer in zip([None] + self.layers[:-1], self.layers):
            if layer.error:
                self.problems.append('%s cannot be read: %s' % (layer.name, layer.error))
            # A full copy over a full copy is read as what it changed (as Docker diffs such
            # layers), so the view, the markers and each path's layer come out as for overlay2.
            layer.base = below if layer.full_copy and below is not None and below.full_copy else None

    # -- layers ----------------------------------------------------------------

    def layer(self, role):
        for layer in reversed(self.layers):
            if layer.role == role:
                return layer
        return None

    def _open_layer_root(self, layer):
        if layer.error is not None:
            return None
        try:
            return self.tree.open_dir(layer.parts)
        except OSError as exc:
            layer.error = 'cannot open %s: %s' % (layer.host_dir, os.strerror(exc.errno) if exc.errno else exc)
            self.problems.append('%s cannot be read: %s' % (layer.name, layer.error))
            return None

    def _root_dirs(self):
        """(layer, fd) of each layer's root directory, newest first."""
        opened = []
        for layer in reversed(self.layers):
            fd = self._open_layer_root(layer)
            if fd is not None:
                opened.append((layer, fd))
            if layer.full_copy and (layer.base is None or layer.base.error is not None):
                # A whole filesystem that cannot be read as a diff hides everything below it.
                break
        return opened

    def _open_base(self, layer, parts):
        """The same directory in the full copy below a full-copy layer, or None."""
        if layer.base is None or layer.base.error is not None:
            return None
        try:
            return self.tree.open_dir(layer.base.parts + list(parts))
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
                return None
            raise

    # -- listing one directory in one layer --------------------------------------

    def _list(self, layer, fd, parts):
        listing = self._list_stored(layer, fd)
        base_fd = self._open_base(layer, parts)
        if base_fd is None:
            return listing
        try:
            below = self._list_stored(layer.base, base_fd)
            dir_st = os.fstat(fd)
            for name, dirent in below.entries.items():
                mine = listing.entries.get(name)
                if mine is None:
                    listing.whiteouts[name] = _Absent(name, dir_st)
                    continue
                try:
                    if not mine.is_dir(follow_symlinks=False) and same_version(
                            dirent.stat(follow_symlinks=False), mine.stat(follow_symlinks=False)):
                        del listing.entries[name]   # unchanged: the layer below holds it
                except FileNotFoundError:
                    continue
        finally:
            os.close(base_fd)
        return listing

    def _list_stored(self, layer, fd):
        listing = _Listing()
        aufs = self.whiteout_format == WHITEOUT_AUFS
        # Docker applies a deletion to a full copy: a 0/0 device there is a file the container made.
        overlay = self.whiteout_format == WHITEOUT_OVERLAY and not layer.full_copy
        with os.scandir(fd) as entries:
            for entry in entries:
                name = os.fsencode(entry.name)
                if aufs and name.startswith(AUFS_WHITEOUT_PREFIX):
                    if name == AUFS_OPAQUE:
                        listing.opaque = True
                        listing.markers.append(entry)
                    elif name in AUFS_META:
                        listing.markers.append(entry)
                    else:
                        listing.whiteouts[name[len(AUFS_WHITEOUT_PREFIX):]] = entry
                    continue
                if overlay and not (entry.is_dir(follow_symlinks=False) or entry.is_file(follow_symlinks=False)
                                    or entry.is_symlink()):
                    if is_overlay_whiteout(entry.stat(follow_symlinks=False)):
                        listing.whiteouts[name] = entry
                        continue
                listing.entries[name] = entry
        return listing

    # -- the merged view ------------------------------------------------------------

    def _merge(self, path_parts, dir_layers):
        """Merged children of one directory, sorted by name.

        `dir_layers` are (layer, fd) of the directory, newest first, already
        cut at the first opaque one.  Returns a list of Entry; a directory
        child carries its candidate (layer, parent fd) pairs in dir_layers.
        """
        decided = {}
        stopped = set()
        for layer, fd in dir_layers:
            listing = self._list(layer, fd, path_parts)
            for name, dirent in listing.entries.items():
                if name in stopped:
                    continue
                try:
                    st = dirent.stat(follow_symlinks=False)
                except OSError as exc:
                    if exc.errno == errno.ENOENT:
                        continue  # removed while listed (a running container)
                    raise
                current = decided.get(name)
                if current is None:
                    entry = Entry(join_path(path_parts + [name]), name, layer, fd, st)
                    decided[name] = entry
                    if entry.kind == DIRECTORY:
                        entry.dir_layers = [(layer, fd)]
                    else:
                        stopped.add(name)
                elif stat.S_ISDIR(st.st_mode):
                    current.dir_layers.append((layer, fd))
                else:
                    stopped.add(name)   # a non-directory below a directory ends the merge
            # A whiteout hides the name below this layer; an aufs layer may hold
            # both .wh.<name> and a new <name>, which then stands alone.
            stopped.update(listing.whiteouts)
        return [decided[name] for name in sorted(decided)]

    def _descend(self, entry):
        """Open the layers of a merged directory entry: (layer, fd) newest first, cut at opacity."""
        opened = []
        try:
            for layer, parent_fd in entry.dir_layers:
                try:
                    fd = open_dir_at(parent_fd, entry.name)
                except OSError as exc:
                    if exc.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
                        continue  # replaced while we walked (a running container)
                    raise
                opened.append((layer, fd))
                if self._is_opaque(fd):
                    break
        except BaseException:
            _close_all(opened)
            raise
        return opened

    def _is_opaque(self, fd):
        if self.whiteout_format == WHITEOUT_OVERLAY:
            return _overlay_opaque(fd)
        if self.whiteout_format == WHITEOUT_AUFS:
            try:
                lstat_at(fd, AUFS_OPAQUE)
                return True
            except OSError:
                return False
        return False

    def _root_entry(self, dir_layers):
        layer, fd = dir_layers[0]
        entry = Entry(b'/', b'', layer, None, os.fstat(fd))
        entry.dir_layers = None
        return entry

    def walk(self, path=b'/', on_error=None):
        """Yield every entry of the merged view at and below `path`, depth first, sorted by name.

        A directory comes before its content.  An entry's dir_fd is valid
        until the walk moves on.  `on_error(path, OSError)` is called for a
        directory that cannot be listed; without it the error is raised.
        `path` itself is not resolved through symlinks: see `resolve`.
        """
        parts = split_path(path)
        if not parts:
            opened = self._open_dir_layers([])
            if not opened:
                return
            try:
                yield self._root_entry(opened)
                yield from self._walk_dir([], opened, on_error)
            finally:
                _close_all(opened)
            return
        parent = self._open_dir_layers(parts[:-1])
        try:
            entry = self._entry_in(parts, parent)
            if entry is None:
                return
            yield entry
            if entry.kind == DIRECTORY:
                opened = self._descend(entry)
                try:
                    yield from self._walk_dir(parts, opened, on_error)
                finally:
                    _close_all(opened)
        finally:
            _close_all(parent)

    def _walk_dir(self, parts, dir_layers, on_error):
        try:
            children = self._merge(parts, dir_layers)
        except OSError as exc:
            if on_error is None:
                raise
            on_error(join_path(parts), exc)
            return
        for child in children:
            yield child
            if child.kind != DIRECTORY:
                continue
            try:
                opened = self._descend(child)
            except OSError as exc:
                if on_error is None:
                    raise
                on_error(child.path, exc)
                continue
            try:
                yield from self._walk_dir(parts + [child.name], opened, on_error)
            finally:
                _close_all(opened)

    def listdir(self, path):
        """Merged entries of one directory (no recursion); their fds are closed: use for names and stats."""
        opened = self._open_dir_layers(split_path(path))
        try:
            return [_detached(entry) for entry in self._merge(split_path(path), opened)] if opened else []
        finally:
            _close_all(opened)

    def _open_dir_layers(self, parts):
        """(layer, fd) newest first of the merged directory at `parts` (no symlink followed), or []."""
        opened = self._root_dirs()
        try:
            cut = []
            for layer, fd in opened:
                cut.append((layer, fd))
                if self._is_opaque(fd):
                    break
            _close_all(opened[len(cut):])
            opened = cut
            for depth in range(len(parts)):
                step = self._entry_in(parts[:depth + 1], opened)
                if step is None or step.kind != DIRECTORY:
                    _close_all(opened)
                    return []
                deeper = self._descend(step)
                _close_all(opened)
                opened = deeper
            return opened
        except BaseException:
            _close_all(opened)
            raise

    def _probe(self, layer, fd, name, parts=None):
        """What one layer's directory holds for `name`: None, 'whiteout', or its lstat.

        `parts`: the directory's path, needed to read a full-copy layer against the one below.
        """
        try:
            st = lstat_at(fd, name)
        except OSError as exc:
            if exc.errno not in (errno.ENOENT, errno.ENOTDIR):
                raise
            st = None
        if parts is not None and layer.base is not None:
            below = self._probe_base(layer, parts, name)
            if st is None:
                return MARK_WHITEOUT if below is not None else None
            if below is not None and not stat.S_ISDIR(st.st_mode) and same_version(below, st):
                return None
            return st
        if st is not None:
            if self.whiteout_format == WHITEOUT_OVERLAY and is_overlay_whiteout(st) and not layer.full_copy:
                return MARK_WHITEOUT
            return st
        if self.whiteout_format == WHITEOUT_AUFS:
            try:
                lstat_at(fd, AUFS_WHITEOUT_PREFIX + name)
                return MARK_WHITEOUT
            except OSError:
                pass
        return None

    def listing(self, layer, dir_fd, parts):
        """One directory of one layer (open as `dir_fd`, at `parts`) as the stack reads it: `entries` and
        `whiteouts` (name -> directory entry); a full-copy layer's as what it changed against the one below."""
        return self._list(layer, dir_fd, parts)

    def _probe_base(self, layer, parts, name):
        base_fd = self._open_base(layer, parts)
        if base_fd is None:
            return None
        try:
            return lstat_at(base_fd, name)
        except OSError as exc:
            if exc.errno not in (errno.ENOENT, errno.ENOTDIR):
                raise
            return None
        finally:
            os.close(base_fd)

    def probe(self, layer, dir_fd, name, parts=None):
        """What one layer's directory (open as `dir_fd`) holds for `name`: None, 'whiteout', or its lstat.

        Give the directory's path as `parts` (components) so that a full-copy layer
        (vfs, overlay) is read as what it changed against the full copy below.
        """
        return self._probe(layer, dir_fd, name, parts)

    def merged_dir(self, path):
        """(layer, fd) newest first of the directory `path` as the merged view holds it, or []; the caller closes."""
        return self._open_dir_layers(split_path(path))

    def is_opaque(self, dir_fd):
        """True when the directory open as `dir_fd` hides the same directory in the layers below."""
        return self._is_opaque(dir_fd)

    def _lookup_in_parent(self, parts):
        """The merged entry at `parts` (no symlink followed), detached from the fds closed on return."""
        parent = self._open_dir_layers(parts[:-1])
        try:
            return _detached(self._entry_in(parts, parent))
        finally:
            _close_all(parent)

    def _entry_in(self, parts, parent_layers):
        name = parts[-1]
        entry = None
        for layer, fd in parent_layers:
            state = self._probe(layer, fd, name, parts[:-1])
            if state is None:
                continue
            if state == MARK_WHITEOUT:
                break
            if entry is None:
                entry = Entry(join_path(parts), name, layer, fd, state)
                if entry.kind != DIRECTORY:
                    break
                entry.dir_layers = [(layer, fd)]
            elif stat.S_ISDIR(state.st_mode):
                entry.dir_layers.append((layer, fd))
            else:
                break
        return entry

    def lookup(self, path):
        """The merged entry at `path`, not following a symlink anywhere; None when absent."""
        parts = split_path(path)
        if not parts:
            opened = self._open_dir_layers([])
            try:
                return _detached(self._root_entry(opened)) if opened else None
            finally:
                _close_all(opened)
        return self._lookup_in_parent(parts)

    def resolve(self, path, follow=True):
        """Resolve `path` inside the container root, as the container would.

        Symlinks in the path (and at its end when `follow`) are read and
        resolved in the merged view: an absolute target starts again at the
        container's root, ``..`` never climbs above it.  Returns
        (entry or None, resolved path as bytes, [symlinks followed]).
        Raises LayerError on a loop or a non-directory in the middle.
        """
        pending = split_path(path)
        resolved = []
        followed = []
        while pending:
            name = pending.pop(0)
            if name == b'..':
                if resolved:
                    resolved.pop()
                continue
            entry = self._lookup_in_parent(resolved + [name])
            if entry is None:
                return None, join_path(resolved + [name] + pending), followed
            if entry.kind == SYMLINK and (pending or follow):
                if len(followed) >= MAX_SYMLINKS:
                    raise LayerError('%s: too many levels of symbolic links' % os.fsdecode(path), errno.ELOOP)
                target = self.read_symlink(entry)
                followed.append((entry.path, target))
                if target.startswith(b'/'):
                    resolved = []
                pending = split_path(target) + pending
                continue
            resolved.append(name)
            if pending and entry.kind != DIRECTORY:
                raise LayerError('%s: %s is not a directory' % (os.fsdecode(path), os.fsdecode(entry.path)), errno.ENOTDIR)
        if not resolved:
            return self.lookup(b'/'), b'/', followed
        return self._lookup_in_parent(resolved), join_path(resolved), followed

    def read_symlink(self, entry):
        """The target of a symlink entry, as bytes."""
        if entry.dir_fd is not None:
            return readlink_at(entry.dir_fd, entry.disk_name)
        parent = self.open_parent(entry)
        try:
            return readlink_at(parent, entry.disk_name)
        finally:
            os.close(parent)

    def open_parent(self, entry):
        """A fresh fd of the entry's parent directory in its own layer (the caller closes it)."""
        return self.tree.open_dir(entry.layer.parts + split_path(entry.path)[:-1])

    def glob(self, pattern):
        """Container paths matching a shell pattern (``*``, ``?``, ``[...]`` per component), sorted.

        Matching happens in the merged view; symlinks in the middle of the
        pattern are resolved inside the container root, the last component
        is matched as it is (a symlink stays a symlink).  A name starting
        with '.' matches only a component that starts with '.'.
        """
        parts = split_path(pattern)
        bases = [[]]
        for depth, part in enumerate(parts):
            last = depth == len(parts) - 1
            found = []
            for base in bases:
                if _is_magic(part):
                    names = [entry.name for entry in self.listdir(join_path(base))
                             if fnmatch.fnmatchcase(entry.name, part)
                             and (part.startswith(b'.') or not entry.name.startswith(b'.'))]
                else:
                    names = [part]
                for name in names:
                    try:
                        entry, resolved, _links = self.resolve(join_path(base + [name]), follow=not last)
                    except LayerError:
                        continue
                    if entry is not None and (last or entry.kind == DIRECTORY):
                        found.append(split_path(resolved))
            bases = found
        unique = sorted(set(join_path(base) for base in bases))
        return unique

    # -- what lies under the merged view (for deleted and replaced files) ------------

    def walk_layer(self, layer, on_error=None):
        """Yield every entry of one layer as stored, markers included, depth first, sorted.

        Whiteouts come as entries with marker 'whiteout' (`name` the deleted
        name); an opaque directory comes as its directory entry with
        `opaque` true, followed by an entry with marker 'opaque'.  aufs
        bookkeeping (.wh..wh.plnk and friends) is left out.
        """
        root = self._open_layer_root(layer)
        if root is None:
            return
        try:
            yield from self._walk_layer_dir(layer, [], root, on_error)
        finally:
            os.close(root)

    def _walk_layer_dir(self, layer, parts, fd, on_error):
        try:
            listing = self._list(layer, fd, parts)
        except OSError as exc:
            if on_error is None:
                raise
            on_error(join_path(parts), exc)
            return
        items = []
        for name, dirent in listing.entries.items():
            try:
                st = dirent.stat(follow_symlinks=False)
            except OSError as exc:
                if exc.errno == errno.ENOENT:
                    continue
                raise
            items.append(Entry(join_path(parts + [name]), name, layer, fd, st))
        for name, dirent in listing.whiteouts.items():
            try:
                st = dirent.stat(follow_symlinks=False)
            except OSError as exc:
                if exc.errno == errno.ENOENT:
                    continue
                raise
            items.append(Entry(join_path(parts + [name]), name, layer, fd, st, kind=MARK_WHITEOUT,
                               marker=MARK_WHITEOUT, disk_name=None if layer.base else os.fsencode(dirent.name)))
        if listing.opaque and self.whiteout_format == WHITEOUT_AUFS:
            for dirent in listing.markers:
                if os.fsencode(dirent.name) == AUFS_OPAQUE:
                    items.append(Entry(join_path(parts + [AUFS_OPAQUE]), AUFS_OPAQUE, layer, fd,
                                       dirent.stat(follow_symlinks=False), kind=MARK_OPAQUE, marker=MARK_OPAQUE))
        items.sort(key=lambda item: (item.name, item.marker or ''))
        for item in items:
            if item.kind != DIRECTORY or item.marker:
                yield item
                continue
            try:
                child = open_dir_at(fd, item.name)
            except OSError as exc:
                if exc.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
                    continue
                if on_error is None:
                    raise
                on_error(item.path, exc)
                yield item
                continue
            try:
                if self.whiteout_format == WHITEOUT_OVERLAY and _overlay_opaque(child):
                    item.opaque = True
                    yield item
                    yield Entry(item.path + b'/' + AUFS_OPAQUE, AUFS_OPAQUE, layer, child, os.fstat(child),
                                kind=MARK_OPAQUE, marker=MARK_OPAQUE)
                elif layer.base is not None:
                    # A directory of a full copy is part of the diff when it changed or holds a change.
                    below = self._probe_base(layer, parts, item.name)
                    inside = self._walk_layer_dir(layer, parts + [item.name], child, on_error)
                    first = next(inside, None)
                    if first is None and below is not None and stat.S_ISDIR(below.st_mode) \
                            and same_version(below, item.stat):
                        continue
                    yield item
                    if first is not None:
                        yield first
                        yield from inside
                    continue
                else:
                    item.opaque = self.whiteout_format == WHITEOUT_AUFS and self._is_opaque(child)
                    yield item
                yield from self._walk_layer_dir(layer, parts + [item.name], child, on_error)
            finally:
                os.close(child)

    def versions(self, path):
        """Every layer's entry for `path`, newest first, whiteouts included.

        The first non-marker entry before any whiteout is the one the merged
        view shows (when its parents are visible); the rest are what it
        hides.  Looked up in every layer regardless of opacity above, so
        hidden entries are reachable; `visible` says which one is shown.
        Returns (list of Entry, index of the visible one or None).  The
        entries' fds are closed on return.
        """
        parts = split_path(path)
        found = []
        for layer in reversed(self.layers):
            if layer.error is not None or not parts:
                continue
            try:
                fd = self.tree.open_dir(layer.parts + parts[:-1])
            except OSError:
                continue
            try:
                state = self._probe(layer, fd, parts[-1], parts[:-1])
                if state == MARK_WHITEOUT and layer.base is not None:
                    # Computed: nothing on disk; the directory that lost the name stands for it.
                    found.append(Entry(join_path(parts), parts[-1], layer, None, os.fstat(fd),
                                       kind=MARK_WHITEOUT, marker=MARK_WHITEOUT))
                elif state == MARK_WHITEOUT:
                    name = parts[-1] if self.whiteout_format == WHITEOUT_OVERLAY else AUFS_WHITEOUT_PREFIX + parts[-1]
                    found.append(Entry(join_path(parts), parts[-1], layer, None, lstat_at(fd, name),
                                       kind=MARK_WHITEOUT, marker=MARK_WHITEOUT, disk_name=name))
                elif state is not None:
                    found.append(Entry(join_path(parts), parts[-1], layer, None, state))
            finally:
                os.close(fd)
        visible_entry = self.lookup(path)
        visible = None
        if visible_entry is not None:
            for index, item in enumerate(found):
                if item.layer is visible_entry.layer and not item.marker:
                    visible = index
                    break
        return found, visible


def _overlay_opaque(fd):
    for attr in OPAQUE_XATTRS:
        value = getxattr_fd(fd, attr)
        if value is not None and value.strip() == b'y':
            return True
    return False


def _is_magic(part):
    return any(char in part for char in (b'*', b'?', b'['))


def _detached(entry):
    """The entry without the descriptors its lookup opened (they are closed; never reuse a number)."""
    if entry is not None:
        entry.dir_fd = None
        entry.dir_layers = None
    return entry


def _close_all(opened):
    for _layer, fd in opened:
        try:
            os.close(fd)
        except OSError:
            pass
    del opened[:]


# -- building a container's stack ---------------------------------------------------


def _same_dir(left, right):
    return bool(left) and bool(right) and os.path.normpath(left) == os.path.normpath(right)


def _image_layer(item):
    layer = Layer(item['index'], 'image', item.get('dir'), diff_id=item.get('diff_id'), chain_id=item.get('chain_id'),
                  cache_id=item.get('cache_id'), created_by=item.get('created_by'), created=item.get('created'),
                  size=item.get('size'))
    if not item.get('dir'):
        layer.error = 'the layer database gives no cache id for it'
    elif not item.get('dir_exists'):
        layer.error = 'its directory %s is missing' % item['dir']
    return layer


def stack_for_container(container, tree):
    """The LayerStack of a container on disk (`_docker_root.Container`), and notes on how it was built.

    The image layers come from the layer database (diff id, chain id, cache
    id, the history step that made each), not from a mount option string,
    so a chain of 100+ layers is no different from one of 3.  The driver's
    own record of what it mounts (overlay2 ``lower``, aufs ``layers/<id>``)
    is compared with it; a disagreement is reported, and the driver's record
    is used when the layer database has no chain at all.
    """
    driver = container.storage()
    if driver.__class__.__name__ == 'UnsupportedDriver':
        raise LayerError('storage driver %s is not supported by the layer resolver' % container.driver)
    chain = container.layer_chain()
    rw = chain['rw_layer']
    mount_id = rw.get('mount_id')
    notes = list(chain['errors'])
    if not mount_id:
        raise LayerError('the layer database has no writable layer (mount id) for container %s' % container.id)
    if container.root.layout == 'v2':
        # Reading a layer another container's record also names would file it as this container's
        # evidence, and as the other's, with nothing to tell which is true: refuse it for both.
        others = [other for other in container.root.mount_id_claims(container.driver).get(mount_id, [])
                  if other != container.id]
        if others:
            raise LayerError('the layer database gives its writable layer, mount id %s, to container %s as well: '
                             'whose layer it is cannot be told, so it is not read' % (mount_id, ', '.join(others)))
    upper_dir = driver.upper_dir(mount_id)
    recorded = driver.lower_dirs(mount_id)   # newest first, or None
    layers = []
    # vfs keeps a whole filesystem per layer (image, init and container alike); the
    # overlay driver keeps one per image layer (root/) and mounts the container's upper/
    # over the top one. Every full copy is in the stack, so that LayerStack reads each
    # as its diff against the one below: deletions, and the layer each path comes from.
    full_copies = not driver.layers_are_diffs
    image_layers = [_image_layer(item) for item in chain['layers']]
    for layer in image_layers:
        layer.full_copy = full_copies
    layers.extend(image_layers)
    init_id = rw.get('init_id')
    if init_id:
        # overlay: the init layer's upper/ is a diff (its files were also copied into the container's
        # upper/ when the container was made): stacked, those copies are not taken for the container's own.
        init = Layer(len(layers), 'init', driver.upper_dir(init_id), mount_id=init_id,
                     full_copy=driver.name == 'vfs')
        if not os.path.isdir(init.host_dir):
            init.error = 'its directory %s is missing' % init.host_dir
        layers.append(init)
    if recorded is not None and driver.name == 'overlay':
        # Its lower-id names the top image layer only.
        expected = [layer.host_dir for layer in image_layers[-1:]]
        found = [item.get('dir') for item in recorded]
        if len(expected) != len(found) or not all(_same_dir(a, b) for a, b in zip(expected, found)):
            notes.append('the layer database and the overlay driver\'s lower-id of mount id %s disagree: %s '
                         'against %s; the layer database is used' % (mount_id, expected, found))
    elif recorded is not None:
        expected = [layer.host_dir for layer in reversed(layers)]
        found = [item.get('dir') for item in recorded]
        if len(expected) != len(found) or not all(_same_dir(a, b) for a, b in zip(expected, found)):
            notes.append('the layer database and the %s driver\'s record of mount id %s disagree: '
                         '%d layers against %d; the layer database is used'
                         % (driver.name, mount_id, len(expected), len(found)))
    layers.append(Layer(len(layers), 'container', upper_dir, mount_id=mount_id,
                        full_copy=driver.name == 'vfs'))
    top = layers[-1]
    if top.role == 'container' and not os.path.isdir(upper_dir):
        top.error = 'its directory %s is missing' % upper_dir
    return LayerStack(tree, layers, driver.whiteout_format), notes
