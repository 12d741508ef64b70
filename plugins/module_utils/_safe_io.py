# -*- coding: utf-8 -*-
# Copyright: dfir.docker contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Opening evidence for reading without changing it.

Private to the collection.  Every read of a file on the suspect host goes
through here: no symlink is followed in the last component, the access time
is not updated where the kernel lets us say so, and a fifo never blocks us.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import errno
import os
import stat

O_NOATIME = getattr(os, 'O_NOATIME', 0)
O_NOFOLLOW = getattr(os, 'O_NOFOLLOW', 0)
O_CLOEXEC = getattr(os, 'O_CLOEXEC', 0)
O_DIRECTORY = getattr(os, 'O_DIRECTORY', 0)

O_PATH = getattr(os, 'O_PATH', 0)

READ_FLAGS = os.O_RDONLY | O_NOFOLLOW | O_CLOEXEC | os.O_NONBLOCK
# As many symlinks as the kernel follows in one path lookup.
MAX_SYMLINKS = 40


class NotRegularFile(OSError):
    """The path exists but is not a regular file (symlink, fifo, device...)."""


def utc_now():
    """The current time as UTC ISO 8601 with microseconds and a Z."""
    return utc_iso(datetime.datetime.now(datetime.timezone.utc))


def utc_iso(moment):
    return moment.astimezone(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%S.%fZ')


def utc_from_timestamp(seconds):
    return utc_iso(datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc))


def open_noatime(path, flags=READ_FLAGS, dir_fd=None):
    """os.open() with O_NOATIME when the kernel allows it for this file.

    O_NOATIME is refused (EPERM) to a caller that neither owns the file nor
    has CAP_FOWNER; then we open without it rather than not at all.
    """
    try:
        return os.open(path, flags | O_NOATIME, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno != errno.EPERM or not O_NOATIME:
            raise
    return os.open(path, flags, dir_fd=dir_fd)


def open_regular(path, dir_fd=None):
    """Open a regular file for reading; refuse symlinks, fifos and devices.

    Returns (fd, stat result).  The caller closes the fd.
    """
    try:
        fd = open_noatime(path, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise NotRegularFile(errno.ELOOP, 'is a symbolic link, not followed', path)
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotRegularFile(errno.EINVAL, 'is not a regular file', path)
    except BaseException:
        os.close(fd)
        raise
    return fd, st


def _path_parts(path):
    return [part for part in path.split('/') if part not in ('', '.')]


def open_beneath(root_fd, path):
    """Open a regular file at `path` inside the tree of the directory fd `root_fd`,
    as a process whose root is that directory would, and never outside it.

    Each component is looked up relative to the directory reached so far,
    without following symlinks; a symlink is read and its target resolved the
    same way: an absolute target starts again at `root_fd` (the container's
    root, not the host's), and ``..`` never climbs above it.  Returns
    (fd, stat result) like `open_regular`; raises OSError naming `path`.
    """
    pending = _path_parts(path)
    if not pending:
        raise OSError(errno.EINVAL, 'names no file', path)
    below_root = []
    followed = 0
    try:
        while pending:
            name = pending.pop(0)
            if name == '..':
                if below_root:
                    os.close(below_root.pop())
                continue
            here = below_root[-1] if below_root else root_fd
            try:
                st = os.stat(name, dir_fd=here, follow_symlinks=False)
                if stat.S_ISLNK(st.st_mode):
                    followed += 1
                    if followed > MAX_SYMLINKS:
                        raise OSError(errno.ELOOP, 'too many levels of symbolic links', path)
                    target = os.readlink(name, dir_fd=here)
                    if target.startswith('/'):
                        while below_root:
                            os.close(below_root.pop())
                    pending = _path_parts(target) + pending
                elif not pending:
                    return open_regular(name, dir_fd=here)
                elif not stat.S_ISDIR(st.st_mode):
                    raise OSError(errno.ENOTDIR, 'a component is not a directory', path)
                else:
                    below_root.append(os.open(name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, dir_fd=here))
            except OSError as exc:
                if exc.filename == path:
                    raise
                raise type(exc)(exc.errno, exc.strerror, path)
    finally:
        for fd in below_root:
            os.close(fd)


def read_small(path, limit=16 * 1024 * 1024):
    """Read a whole small regular file (a config, a state file)."""
    fd, st = open_regular(path)
    return _read_opened(fd, st, path, limit)


def read_small_beneath(root_fd, path, limit=16 * 1024 * 1024):
    """`read_small` for a file inside a tree, resolved with `open_beneath`."""
    fd, st = open_beneath(root_fd, path)
    return _read_opened(fd, st, path, limit)


def _read_opened(fd, st, path, limit):
    try:
        if st.st_size > limit:
            raise OSError(errno.EFBIG, 'is larger than %d bytes, too large for a metadata file' % limit, path)
        chunks = []
        total = 0
        while True:
            data = os.read(fd, 1024 * 1024)
            if not data:
                break
            total += len(data)
            if total > limit:
                raise OSError(errno.EFBIG, 'grew beyond %d bytes while being read' % limit, path)
            chunks.append(data)
        return b''.join(chunks)
    finally:
        os.close(fd)


def read_text(path, limit=16 * 1024 * 1024):
    return read_small(path, limit).decode('utf-8', 'surrogateescape')


DIR_FLAGS = os.O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC


def open_dir(path, dir_fd=None):
    """Open a directory to list it: O_NOATIME (listing a directory updates its atime otherwise,
    unless the kernel refuses the flag with EPERM), never through a symlink in the last component."""
    return open_noatime(path, DIR_FLAGS, dir_fd=dir_fd)


def list_dir(path, dir_fd=None):
    """The names in a directory, listed through an fd opened by `open_dir`."""
    fd = open_dir(path, dir_fd)
    try:
        return os.listdir(fd)
    finally:
        os.close(fd)


def scan_dir(fd):
    """(name, lstat result) of each entry of the open directory `fd`, sorted by name; an entry that
    is gone by the time it is looked at is left out."""
    found = []
    for name in os.listdir(fd):
        try:
            found.append((name, os.stat(name, dir_fd=fd, follow_symlinks=False)))
        except FileNotFoundError:
            continue
    return sorted(found)


def walk_beneath(dir_fd, prefix=''):
    """Yield (relative path, lstat result, directory fd, name) for everything below the open
    directory `dir_fd`, depth first, sorted by name.

    Each directory is opened relative to its parent's fd with O_NOFOLLOW and
    O_NOATIME, so a symlink is listed as a symlink and never entered, and the
    lookup never leaves the tree through a renamed or swapped component. The
    directory fd yielded is valid only until the next item is asked for.
    """
    for name, st in scan_dir(dir_fd):
        relative = prefix + name
        yield relative, st, dir_fd, name
        if stat.S_ISDIR(st.st_mode):
            try:
                child = open_dir(name, dir_fd)
            except FileNotFoundError:
                continue   # removed since it was listed
            except OSError as exc:
                raise type(exc)(exc.errno, exc.strerror, relative)
            try:
                yield from walk_beneath(child, relative + '/')
            finally:
                os.close(child)


def open_nofollow_beneath(dir_fd, path):
    """Open the regular file at `path` below the open directory `dir_fd`, following no symlink at
    all: each directory on the way is opened relative to the previous one with O_NOFOLLOW, so a
    component that is (or has just become) a symlink fails with ELOOP instead of leading elsewhere.
    Returns (fd, stat result) like `open_regular`; raises OSError naming `path`."""
    parts = _path_parts(path)
    if not parts or '..' in parts:
        raise OSError(errno.EINVAL, 'not a path below the directory', path)
    opened = []
    try:
        here = dir_fd
        for name in parts[:-1]:
            try:
                here = os.open(name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, dir_fd=here)
            except OSError as exc:
                if exc.errno == errno.ENOTDIR:
                    kind = 'a symbolic link, not followed' if _is_symlink(name, here) else 'not a directory'
                    raise OSError(errno.ELOOP if 'symbolic' in kind else errno.ENOTDIR, '%s is %s' % (name, kind), path)
                raise type(exc)(exc.errno, exc.strerror, path)
            opened.append(here)
        try:
            return open_regular(parts[-1], dir_fd=here)
        except OSError as exc:
            raise type(exc)(exc.errno, exc.strerror, path)
    finally:
        for fd in opened:
            os.close(fd)


def _is_symlink(name, dir_fd):
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)
    except OSError:
        return False


def is_real_dir(path):
    """A directory that is not reached through a symlink in its last component."""
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def describe_os_error(exc):
    """A one-line reason for an OSError: strerror and the file it is about (see json_safe)."""
    reason = json_safe(exc.strerror or str(exc))
    if exc.filename:
        return '%s: %s' % (json_safe(exc.filename), reason)
    return reason


def json_safe(text):
    """Text that a module can return (Ansible refuses a string that is not UTF-8): unchanged when it is
    UTF-8, else as display_path shows it. A name listed from a directory holds each byte that is not
    UTF-8 as a surrogate escape."""
    if isinstance(text, bytes):
        return display_path(text)
    if not isinstance(text, str):
        return text
    try:
        text.encode('utf-8')
    except UnicodeEncodeError:
        return display_path(text)
    return text


def display_path(raw):
    """Show a path that may hold any bytes.

    Valid UTF-8 stays readable; a backslash, control characters and bytes
    that are not UTF-8 are escaped, so the text maps back to exactly one name:
    ``\\xNN`` is always one byte, ``\\uNNNN`` a C1 control character written
    in UTF-8 (two bytes), which must not read like the lone byte NN.
    """
    if isinstance(raw, bytes):
        raw = raw.decode('utf-8', 'surrogateescape')
    out = []
    for char in raw:
        code = ord(char)
        if char == '\\':
            out.append('\\\\')
        elif char == '\n':
            out.append('\\n')
        elif char == '\t':
            out.append('\\t')
        elif 0xdc80 <= code <= 0xdcff:
            out.append('\\x%02x' % (code - 0xdc00))
        elif code < 0x20 or code == 0x7f:
            out.append('\\x%02x' % code)
        elif 0x80 <= code < 0xa0:
            out.append('\\u%04x' % code)
        else:
            out.append(char)
    return ''.join(out)
