# -*- coding: utf-8 -*-
# Copyright: dfir.docker contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A container's change set: its writable layer against the layers below, like `docker diff`, and more.

Private to the collection.  Pure Python, standard library only.

`ChangeSet` walks the writable layer and, beside it, the same directories in
the layers below (init and image layers, merged as overlay merges them), so
each directory below is listed only where the writable layer has one:

- an entry that nothing below holds is added (A); a directory that is new
  is not compared with anything further down;
- an entry that hides one below is changed (C), and the record says how:
  ``content_changed`` (the SHA-256 of both differs), ``metadata_changed``
  (same content; mode, owner, mtime, size of a directory, attributes...),
  ``copied_up_unchanged`` (overlay copied it up and nothing differs, as
  ``touch -c``-less opens for writing or a chown to the same owner do),
  ``type_changed``, or ``replaced`` for an opaque directory that hides a
  directory below;
- a whiteout, or an entry below an opaque directory that the writable layer
  does not hold again, is deleted (D).

Every C and D names the entry it shadows (``before``) and its layer (diff
id, index, build step).  Directories are treated as Docker does: a directory
of the writable layer that exists below is C (overlay copies a directory up
only to change something in it), a superset of what `docker diff` lists.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import os
import stat

from ansible_collections.dfir.docker.plugins.module_utils._layers import (
    AUFS_META,
    AUFS_OPAQUE,
    AUFS_WHITEOUT_PREFIX,
    FILE,
    MARK_WHITEOUT,
    SYMLINK,
    WHITEOUT_AUFS,
    WHITEOUT_OVERLAY,
    LayerStack,
    is_driver_xattr,
    is_overlay_whiteout,
    join_path,
    kind_of,
    same_version,
    split_path,
)
from ansible_collections.dfir.docker.plugins.module_utils._safe_io import describe_os_error, display_path
from ansible_collections.dfir.docker.plugins.module_utils._tree import open_dir_at, xattrs_of
from ansible_collections.dfir.docker.plugins.module_utils._whiteouts import (
    METACOPY_XATTRS,
    REDIRECT_XATTRS,
    TICK_ENTRIES,
    describe_content,
    entry_info,
    layer_ref,
    overlay_attribute,
    redirect_origin,
)

ADDED, CHANGED, DELETED = 'A', 'C', 'D'
# How a changed entry differs from the one it shadows.
CONTENT_CHANGED = 'content_changed'
METADATA_CHANGED = 'metadata_changed'
COPIED_UP_UNCHANGED = 'copied_up_unchanged'
TYPE_CHANGED = 'type_changed'
REPLACED = 'replaced'
NOT_COMPARED = 'content_not_compared'
# How a deleted entry went.
WHITED_OUT = 'whiteout'
HIDDEN_BY_OPAQUE = 'hidden_by_opaque_directory'
# vfs: the writable layer's full copy lacks what the init layer's copy holds (`marker` is its directory's times).
ABSENT = 'absent_from_full_copy'
RENAMED = 'renamed'

DETAILS = (CONTENT_CHANGED, METADATA_CHANGED, COPIED_UP_UNCHANGED, TYPE_CHANGED, REPLACED, NOT_COMPARED,
           WHITED_OUT, HIDDEN_BY_OPAQUE, ABSENT, RENAMED)


def api_key(path):
    """A change's path as the daemon's JSON shows it (bytes that are not UTF-8 become U+FFFD)."""
    if isinstance(path, bytes):
        return path.decode('utf-8', 'replace')
    return path


class _Dir:
    """A directory of the writable layer being walked, with the same directory in the layers below."""

    __slots__ = ('parts', 'origin', 'fd', 'lower', 'hidden_by', 'children', 'pending')

    def __init__(self, parts, origin, fd, lower, hidden_by):
        self.parts = parts
        self.origin = origin
        self.fd = fd
        self.lower = lower          # (layer, fd) newest first, as overlay merges them below
        self.hidden_by = hidden_by  # the opaque directory (bytes) that hides the layers below, or None
        self.children = None
        self.pending = None         # full copy: its unchanged directory's record, kept until a change is found in it

    def close(self):
        os.close(self.fd)
        _close_pairs(self.lower)


class ChangeSet:
    """The change records of a stack's writable layer, streamed; counts in `counts`."""

    def __init__(self, stack, hasher=None, hash_added=False, ids=None, tick=None, keep_keys=False):
        """`keep_keys`: remember (path, change) of every record, to compare with the daemon's list afterwards."""
        self.stack = stack
        self.upper = stack.layer('container')
        if self.upper is None or self.upper.error:
            raise OSError(errno.ENOENT, 'the writable layer cannot be read: %s'
                          % (self.upper.error if self.upper else 'there is none'))
        position = stack.layers.index(self.upper)
        self.below = LayerStack(stack.tree, stack.layers[:position], stack.whiteout_format)
        self.fmt = stack.whiteout_format
        self.hasher = hasher
        self.hash_added = hash_added and hasher is not None
        self.ids = ids
        self.tick = tick
        self.counts = dict([(ADDED, 0), (CHANGED, 0), (DELETED, 0), ('entries_scanned', 0)]
                           + [(detail, 0) for detail in DETAILS])
        self.problems = []
        self.keys = set() if keep_keys else None

    # -- the walk ------------------------------------------------------------------------

    def records(self):
        """Every change, depth first, each directory's entries sorted by name."""
        root = self.stack.tree.open_dir(self.upper.parts)
        try:
            lower = self._open_below([])
        except BaseException:
            os.close(root)
            raise
        frames = [self._open_frame(_Dir([], [], root, lower, None))]
        try:
            while frames:
                frame = frames[-1]
                item = next(frame.children, None)
                if item is None:
                    frames.pop().close()
                    continue
                record, child = self._change(frame, item)
                if record is not None:
                    for ancestor in frames:
                        if ancestor.pending is not None:
                            yield ancestor.pending
                            ancestor.pending = None
                    yield record
                if child is not None:
                    frames.append(child)
        finally:
            for frame in frames:
                frame.close()

    def _open_frame(self, frame):
        """List a directory of the writable layer (and, under an opaque one, what it hides below)."""
        try:
            items = self._list_upper(frame)
            if frame.hidden_by is not None:
                present = set(name for name, _what, _st in items)
                items.extend(self._hidden_below(frame, present))
        except OSError as exc:
            where = display_path(join_path(frame.parts))
            self.problems.append('%s: directory not listed: %s' % (where, describe_os_error(exc)))
            items = []
        items.sort(key=lambda item: (item[0], item[1]))
        frame.children = iter(items)
        return frame

    def _list_upper(self, frame):
        if self.upper.base is not None:
            return self._list_full_copy(frame)
        items = []
        aufs = self.fmt == WHITEOUT_AUFS
        with os.scandir(frame.fd) as entries:
            for entry in entries:
                self.counts['entries_scanned'] += 1
                if self.tick is not None and self.counts['entries_scanned'] % TICK_ENTRIES == 0:
                    self.tick()
                name = os.fsencode(entry.name)
                try:
                    st = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue  # removed while listed (a running container)
                if aufs and name.startswith(AUFS_WHITEOUT_PREFIX):
                    if name not in AUFS_META and name != AUFS_OPAQUE:
                        items.append((name[len(AUFS_WHITEOUT_PREFIX):], 'whiteout', st))
                    continue
                if self.fmt == WHITEOUT_OVERLAY and is_overlay_whiteout(st):
                    items.append((name, 'whiteout', st))
                    continue
                items.append((name, 'entry', st))
        return items

    def _list_full_copy(self, frame):
        """A directory of a full-copy writable layer (vfs) as what it changed against the init layer's copy."""
        listing = self.stack.listing(self.upper, frame.fd, frame.parts)
        self.counts['entries_scanned'] += len(listing.entries) + len(listing.whiteouts)
        if self.tick is not None:
            self.tick()
        items = [(name, 'whiteout', dirent.stat(follow_symlinks=False)) for name, dirent in listing.whiteouts.items()]
        for name, dirent in listing.entries.items():
            try:
                items.append((name, 'entry', dirent.stat(follow_symlinks=False)))
            except FileNotFoundError:
                continue  # removed while listed (a running container)
        return items

    def _hidden_below(self, frame, present):
        """Entries below an opaque directory that the writable layer does not hold again: deleted."""
        hidden = []
        for entry in self.below.listdir(join_path(frame.origin)):
            if entry.name not in present:
                hidden.append((entry.name, 'hidden', entry))
        return hidden

    # -- one entry ------------------------------------------------------------------------

    def _change(self, frame, item):
        """(record or None, frame to descend into or None) for one item of a directory."""
        name, what, payload = item
        path = join_path(frame.parts + [name])
        if what == 'whiteout':
            return self._deleted(frame, name, path, payload), None
        if what == 'hidden':
            return self._hidden(frame, path, payload), None
        st = payload
        below = self._below(frame, name)
        child = None
        opaque = False
        origin = frame.origin + [name]
        renamed_from = None
        if stat.S_ISDIR(st.st_mode):
            try:
                child_fd = open_dir_at(frame.fd, name)
            except OSError as exc:
                if exc.errno not in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
                    self.problems.append('%s: directory not opened: %s' % (display_path(path), describe_os_error(exc)))
                child_fd = None
            if child_fd is not None:
                try:
                    opaque = self.stack.is_opaque(child_fd)
                    if self.fmt == WHITEOUT_OVERLAY:
                        _attr, value = overlay_attribute(child_fd, REDIRECT_XATTRS)
                        if value:
                            origin = redirect_origin(frame.origin, value)
                            renamed_from = join_path(origin)
                    lower = []
                    if below is not None or renamed_from is not None:
                        lower = self._lower_dirs(frame, name, origin, renamed_from is not None)
                except BaseException:
                    os.close(child_fd)
                    raise
                hidden_by = frame.hidden_by
                if opaque and below is not None:
                    hidden_by = path
                child = self._open_frame(_Dir(frame.parts + [name], origin, child_fd, lower, hidden_by))
        if renamed_from is not None:
            # A directory renamed with redirect_dir: new at this path (as docker diff says it), its
            # content merged from the original below, which `before` describes.
            record = self._added(frame, name, path, st)
            record['renamed_from'] = display_path(renamed_from)
            origin_below = self._below_at(origin)
            record['before'] = self._before(origin_below, name, renamed_from) if origin_below else None
            self.counts[RENAMED] += 1
        elif below is None:
            record = self._added(frame, name, path, st)
        else:
            record = self._changed(frame, name, path, st, below, opaque)
            if child is not None and self.upper.base is not None and same_version(below[2], st):
                # Every directory is in a full copy: list one only when something in it changed,
                # as docker diff does on these drivers.
                child.pending, record = record, None
        return record, child

    def _below(self, frame, name):
        """(layer, dir fd, stat) of what the view below shows for `name` in this directory, or None."""
        for layer, fd in frame.lower:
            state = self.below.probe(layer, fd, name, frame.origin)
            if state is None:
                continue
            if state == MARK_WHITEOUT:
                return None
            return layer, fd, state
        return None

    def _below_at(self, origin):
        """The view below at a path elsewhere (a redirect_dir rename): (layer, None, stat) or None."""
        entry = self.below.lookup(join_path(origin))
        if entry is None:
            return None
        return entry.layer, None, entry.stat

    def _lower_dirs(self, frame, name, origin, redirected):
        """The directory's (layer, fd) below, newest first, cut where overlay stops merging."""
        if redirected:
            return self._open_below(origin)
        opened = []
        try:
            for layer, fd in frame.lower:
                state = self.below.probe(layer, fd, name, frame.origin)
                if state is None:
                    continue
                if state == MARK_WHITEOUT or not stat.S_ISDIR(state.st_mode):
                    break
                try:
                    child = open_dir_at(fd, name)
                except OSError as exc:
                    if exc.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
                        continue
                    raise
                opened.append((layer, child))
                if self.below.is_opaque(child):
                    break
        except BaseException:
            _close_pairs(opened)
            raise
        return opened

    def _open_below(self, parts):
        """The directory `parts` in each layer below: (layer, fd) newest first, down to the first opaque one."""
        opened = []
        try:
            for layer in reversed(self.below.layers):
                if layer.error is not None:
                    continue
                try:
                    fd = self.stack.tree.open_dir(layer.parts + parts)
                except OSError as exc:
                    if not parts:
                        self.problems.append('%s cannot be opened: %s' % (layer.name, describe_os_error(exc)))
                    continue
                opened.append((layer, fd))
                if self.below.is_opaque(fd):
                    break
        except BaseException:
            _close_pairs(opened)
            raise
        return opened

    # -- records ---------------------------------------------------------------------------

    def _now(self, dir_fd, name, st, hash_it):
        kind = kind_of(st.st_mode)
        info = entry_info(st, kind, self.ids)
        return describe_content(info, dir_fd, name, kind, st, self.hasher if hash_it else None)

    def _before(self, below, name, origin_path):
        """The entry a change shadows, with its layer."""
        layer, dir_fd, st = below
        kind = kind_of(st.st_mode)
        info = {'layer': layer_ref(layer, full=True)}
        info.update(entry_info(st, kind, self.ids))
        opened = None
        if dir_fd is None:
            try:
                dir_fd = opened = self.stack.tree.open_dir(layer.parts + split_path(origin_path)[:-1])
            except OSError as exc:
                info['problem'] = 'not read: %s' % describe_os_error(exc)
                return info
            name = split_path(origin_path)[-1]
        try:
            describe_content(info, dir_fd, name, kind, st, self.hasher)
        finally:
            if opened is not None:
                os.close(opened)
        return info

    def _record(self, change, path, kind, detail=None):
        self.counts[change] += 1
        record = {'change': change, 'path': display_path(path), 'type': kind}
        if detail is not None:
            self.counts[detail] += 1
            record['detail'] = detail
        if self.keys is not None:
            self.keys.add((api_key(path), change))
            if detail == REPLACED:
                # A directory deleted and made again (opaque) is one record of ours, C
                # replaced; Docker's native overlay diff lists it as D, its naive diff as C.
                self.keys.add((api_key(path), DELETED))
        return record

    def _added(self, frame, name, path, st):
        record = self._record(ADDED, path, kind_of(st.st_mode))
        record['now'] = self._now(frame.fd, name, st, self.hash_added)
        self._note(path, record['now'])
        return record

    def _deleted(self, frame, name, path, marker_st):
        below = self._below(frame, name)
        record = self._record(DELETED, path, kind_of(below[2].st_mode) if below else None,
                              ABSENT if self.upper.base is not None else WHITED_OUT)
        times = entry_info(marker_st)
        record['marker'] = {'mtime': times['mtime'], 'ctime': times['ctime'], 'links': marker_st.st_nlink}
        if below is None:
            record['before'] = None
            record['note'] = 'nothing below holds this path: the whiteout hides nothing'
        else:
            record['before'] = self._before(below, name, join_path(frame.origin + [name]))
            self._note(path, record['before'])
        return record

    def _hidden(self, frame, path, entry):
        record = self._record(DELETED, path, entry.kind, HIDDEN_BY_OPAQUE)
        record['hidden_by'] = display_path(frame.hidden_by)
        record['before'] = self._before((entry.layer, None, entry.stat), entry.name, entry.path)
        self._note(path, record['before'])
        return record

    def _changed(self, frame, name, path, st, below, replaced):
        layer, below_fd, below_st = below
        kind, below_kind = kind_of(st.st_mode), kind_of(below_st.st_mode)
        now = self._now(frame.fd, name, st, False)
        before = self._before(below, name, join_path(frame.origin + [name]))
        differs = []
        if kind != below_kind:
            detail = TYPE_CHANGED
            differs.append('type')
        else:
            differs.extend(self._metadata_differs(st, below_st, kind))
            attributes = self._xattrs(frame.fd, name, path)
            if below_fd is not None and _data_xattrs(attributes) != _data_xattrs(self._xattrs(below_fd, name, path)):
                differs.append('xattrs')
            content = None
            if kind == FILE:
                if any(attr in attributes for attr in METACOPY_XATTRS):
                    # The data was not copied up: the file's content is the one below.
                    now['sha256'] = before.get('sha256')
                    now['metacopy'] = True
                    content = False
                elif self.hasher is not None:
                    describe_content(now, frame.fd, name, kind, st, self.hasher)
                    if now.get('sha256') and before.get('sha256'):
                        content = now['sha256'] != before['sha256']
                elif st.st_size != below_st.st_size:
                    content = True
            elif kind == SYMLINK:
                content = now.get('link_target') != before.get('link_target')
            if content:
                differs.insert(0, 'content')
            if replaced:
                detail = REPLACED
            elif content:
                detail = CONTENT_CHANGED
            elif kind == FILE and content is None:
                detail = NOT_COMPARED
            elif differs:
                detail = METADATA_CHANGED
            else:
                detail = COPIED_UP_UNCHANGED
        record = self._record(CHANGED, path, kind, detail)
        record.update({'differs': differs, 'now': now, 'before': before})
        if replaced:
            record['note'] = 'an opaque directory: everything the directory held below is hidden'
        self._note(path, now)
        self._note(path, before)
        return record

    @staticmethod
    def _metadata_differs(st, below_st, kind):
        differs = []
        if stat.S_IMODE(st.st_mode) != stat.S_IMODE(below_st.st_mode):
            differs.append('mode')
        if st.st_uid != below_st.st_uid:
            differs.append('uid')
        if st.st_gid != below_st.st_gid:
            differs.append('gid')
        if st.st_mtime_ns != below_st.st_mtime_ns:
            differs.append('mtime')
        if kind == FILE and st.st_size != below_st.st_size:
            differs.append('size')
        if kind in ('char_device', 'block_device') and st.st_rdev != below_st.st_rdev:
            differs.append('device')
        return differs

    def _xattrs(self, dir_fd, name, path):
        """Every extended attribute of an entry, the driver's own included (read without opening it)."""
        try:
            return xattrs_of(dir_fd, name)
        except OSError as exc:
            self.problems.append('%s: extended attributes not read: %s' % (display_path(path), describe_os_error(exc)))
            return {}

    def _note(self, path, info):
        if info and info.get('problem'):
            self.problems.append('%s: %s' % (display_path(path), info['problem']))


def _close_pairs(opened):
    for _layer, fd in opened:
        try:
            os.close(fd)
        except OSError:
            pass


def _data_xattrs(attributes):
    return dict((name, value) for name, value in attributes.items() if not is_driver_xattr(name))


def missing_from(keys, daemon_changes):
    """What the daemon's list (GET /containers/{id}/changes) holds that none of our records accounts for.

    Returns [{'change': letter, 'path': path}], sorted by path.
    """
    letters = {0: CHANGED, 1: ADDED, 2: DELETED}
    missing = []
    for item in daemon_changes or []:
        letter = letters.get(item.get('Kind'), str(item.get('Kind')))
        if (item.get('Path'), letter) not in keys:
            missing.append({'change': letter, 'path': item.get('Path')})
    missing.sort(key=lambda item: (item['path'] or '', item['change']))
    return missing
