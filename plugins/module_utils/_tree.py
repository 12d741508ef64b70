# -*- coding: utf-8 -*-
# Copyright: dfir.docker contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A directory tree on the host, read without changing it.

Private to the collection.  Standard library only.

`ReadOnlyTree` reads below one host directory (a Docker root, a volume, a
tmpfs seen through /proc/<pid>/root) by file descriptor: every component is
opened relative to its parent with O_NOFOLLOW, so no symlink is ever
followed, not even one a running container swaps in mid-walk.

Where the kernel allows it (Linux 5.12+, CAP_SYS_ADMIN), the tree is read
through a *detached* clone of its mount made read-only and noatime with
open_tree(2) and mount_setattr(2).  The clone is attached nowhere: no mount
table changes, nothing is visible to the host, and it vanishes with its file
descriptor.  Through it the kernel itself refuses every write (EROFS) and
updates no access time, including the ones O_NOATIME cannot prevent: the
atime of a directory listed and of a symlink read (readlink(2) has no
O_NOATIME).  Elsewhere, files and directories are opened with O_NOATIME and
the tree says which method it used.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import os
import platform
import stat

from ansible_collections.dfir.docker.plugins.module_utils._safe_io import (
    O_CLOEXEC,
    O_DIRECTORY,
    O_NOFOLLOW,
    describe_os_error,
    open_noatime,
)

DIR_FLAGS = os.O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC
FILE_FLAGS = os.O_RDONLY | O_NOFOLLOW | O_CLOEXEC | os.O_NONBLOCK
O_PATH = getattr(os, 'O_PATH', 0)

METHOD_VIEW = 'detached read-only noatime view'
METHOD_NOATIME = 'O_NOATIME reads'

# Linux syscall numbers of the new mount API: one table for every
# architecture since 5.2 (alpha aside), so they are safe to hard-code.
_SYS_OPEN_TREE = 428
_SYS_MOUNT_SETATTR = 442
_OPEN_TREE_CLONE = 1
_OPEN_TREE_CLOEXEC = 0o2000000
_AT_FDCWD = -100
_AT_RECURSIVE = 0x8000
_AT_EMPTY_PATH = 0x1000
_MOUNT_ATTR_RDONLY = 0x1
_MOUNT_ATTR_NOATIME = 0x10
_MOUNT_ATTR__ATIME = 0x70
_VIEW_MACHINES = ('x86_64', 'aarch64', 'arm64', 'armv7l', 'armv6l', 'i386', 'i686', 'ppc64le', 's390x',
                  'riscv64', 'mips64', 'loongarch64')


def _detached_view(path=None, fd=None):
    """A file descriptor of a read-only, noatime, detached clone of the mount at `path` (or at `fd`).

    Raises OSError when the kernel or the caller's privileges do not allow it.
    """
    if platform.system() != 'Linux' or platform.machine() not in _VIEW_MACHINES:
        raise OSError(errno.ENOSYS, 'not available on %s %s' % (platform.system(), platform.machine()))
    try:
        import ctypes  # only here: a module that never needs the view never loads ctypes
    except ImportError:
        raise OSError(errno.ENOSYS, 'this Python has no ctypes')

    class MountAttr(ctypes.Structure):
        _fields_ = [('attr_set', ctypes.c_uint64), ('attr_clr', ctypes.c_uint64),
                    ('propagation', ctypes.c_uint64), ('userns_fd', ctypes.c_uint64)]

    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    flags = _OPEN_TREE_CLONE | _OPEN_TREE_CLOEXEC | _AT_RECURSIVE
    if fd is None:
        where, name = _AT_FDCWD, os.fsencode(path)
    else:
        where, name, flags = fd, b'', flags | _AT_EMPTY_PATH
    fd = libc.syscall(ctypes.c_long(_SYS_OPEN_TREE), ctypes.c_int(where), ctypes.c_char_p(name), ctypes.c_uint(flags))
    if fd < 0:
        code = ctypes.get_errno()
        raise OSError(code, 'open_tree: %s' % os.strerror(code))
    attr = MountAttr(_MOUNT_ATTR_RDONLY | _MOUNT_ATTR_NOATIME, _MOUNT_ATTR__ATIME, 0, 0)
    done = libc.syscall(ctypes.c_long(_SYS_MOUNT_SETATTR), ctypes.c_int(fd), ctypes.c_char_p(b''),
                        ctypes.c_uint(_AT_EMPTY_PATH | _AT_RECURSIVE), ctypes.byref(attr),
                        ctypes.c_size_t(ctypes.sizeof(attr)))
    if done < 0:
        code = ctypes.get_errno()
        os.close(fd)
        raise OSError(code, 'mount_setattr: %s' % os.strerror(code))
    try:
        # The view is the point: refuse to go on if the kernel did not honour it.
        if not stat.S_ISDIR(os.fstat(fd).st_mode):
            raise OSError(errno.ENOTDIR, 'the view is not a directory')
        if os.fstatvfs(fd).f_flag & os.ST_RDONLY == 0 or os.fstatvfs(fd).f_flag & os.ST_NOATIME == 0:
            raise OSError(errno.EPERM, 'the kernel did not make the view read-only and noatime')
    except OSError:
        os.close(fd)
        raise
    return fd


def _split(relpath):
    if isinstance(relpath, str):
        relpath = os.fsencode(relpath)
    return [part for part in relpath.split(b'/') if part and part != b'.']


class ReadOnlyTree:
    """One host directory, read by descriptor, never through a symlink, never written."""

    def __init__(self, path, use_view=True, base_fd=None):
        """The tree at `path`; with `base_fd`, the directory that fd stands for (`path` names it)."""
        self.path = os.path.abspath(path)
        self.method = METHOD_NOATIME
        self.view_error = None
        self.fd = None
        if use_view:
            try:
                self.fd = _detached_view(None if base_fd is not None else self.path, base_fd)
                self.method = METHOD_VIEW
            except OSError as exc:
                self.view_error = describe_os_error(exc)
        else:
            self.view_error = 'not asked for'
        if self.fd is None:
            self.fd = os.dup(base_fd) if base_fd is not None else open_noatime(self.path, DIR_FLAGS)

    @classmethod
    def beneath(cls, base, relpath, use_view=True):
        """The tree at `relpath` below the directory `base`, no symlink followed on the way.

        For a mount point inside a container, `base` is /proc/<pid>/root: the
        container's own root, so each component is the container's, and a
        symlink it planted is refused rather than followed into the host.
        """
        fd = open_noatime(base, DIR_FLAGS & ~O_NOFOLLOW)
        try:
            for part in _split(relpath):
                if part == b'..':
                    raise OSError(errno.EINVAL, '".." in a mount destination', relpath)
                child = open_noatime(part, DIR_FLAGS, dir_fd=fd)
                os.close(fd)
                fd = child
            return cls(os.path.join(base, os.fsdecode(relpath).lstrip('/')), use_view, base_fd=fd)
        finally:
            os.close(fd)

    def close(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def relative(self, host_path):
        """`host_path` as components below this tree, or None when it is not inside."""
        host_path = os.path.normpath(os.path.abspath(host_path))
        if host_path == self.path:
            return []
        prefix = self.path.rstrip('/') + '/'
        if not host_path.startswith(prefix):
            return None
        parts = _split(host_path[len(prefix):])
        if b'..' in parts:
            return None
        return parts

    def open_dir(self, parts):
        """Open the directory `parts` (components below the tree); no symlink followed."""
        # The view's own fd is an O_PATH one: reopen it as a directory that can be listed.
        fd = open_noatime('.', DIR_FLAGS, dir_fd=self.fd)
        try:
            for part in parts:
                child = open_noatime(part, DIR_FLAGS, dir_fd=fd)
                os.close(fd)
                fd = child
        except BaseException:
            os.close(fd)
            raise
        return fd

    def describe(self):
        info = {'path': self.path, 'read_method': self.method}
        if self.view_error:
            info['read_only_view_unavailable'] = self.view_error
        return info


def open_dir_at(dir_fd, name):
    return open_noatime(name, DIR_FLAGS, dir_fd=dir_fd)


def open_file_at(dir_fd, name):
    """Open a regular file in a directory fd; refuse anything else.  Returns (fd, stat)."""
    fd = open_noatime(name, FILE_FLAGS, dir_fd=dir_fd)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise OSError(errno.EINVAL, 'is not a regular file')
    except BaseException:
        os.close(fd)
        raise
    return fd, st


def lstat_at(dir_fd, name):
    return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)


def readlink_at(dir_fd, name):
    return os.readlink(name, dir_fd=dir_fd)


# The attribute is absent, the file system has none, or it is not ours to read (trusted.* as non-root).
_NO_XATTR = (errno.ENODATA, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EPERM, errno.EACCES)


def _proc_path(dir_fd, name):
    return b'/proc/self/fd/%d/%s' % (dir_fd, name)


def xattrs_of(dir_fd, name, fd=None, skip=None):
    """Extended attributes of one entry as {name (str): value (bytes)}.

    Read from an open fd when there is one, else by name below the directory
    fd through /proc/self/fd, without following the entry if it is a symlink
    (and without opening it: a fifo or a device is never opened).  `skip(name)`
    leaves out attributes that are the storage driver's own bookkeeping.
    """
    if fd is not None:
        def list_names():
            return os.listxattr(fd)

        def get(attr):
            return os.getxattr(fd, attr)
    else:
        path = _proc_path(dir_fd, name)

        def list_names():
            return os.listxattr(path, follow_symlinks=False)

        def get(attr):
            return os.getxattr(path, attr, follow_symlinks=False)
    try:
        names = list_names()
    except OSError as exc:
        if exc.errno in _NO_XATTR:
            return {}
        raise
    found = {}
    for attr in sorted(names):
        if skip is not None and skip(attr):
            continue
        try:
            found[attr] = get(attr)
        except OSError as exc:
            if exc.errno not in _NO_XATTR:
                raise
    return found


def getxattr_fd(fd, attr):
    """One attribute of an open file or directory, or None."""
    try:
        return os.getxattr(fd, attr)
    except OSError as exc:
        if exc.errno in _NO_XATTR:
            return None
        raise
