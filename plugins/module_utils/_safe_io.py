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

READ_FLAGS = os.O_RDONLY | O_NOFOLLOW | O_CLOEXEC | os.O_NONBLOCK


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


def read_small(path, limit=16 * 1024 * 1024):
    """Read a whole small regular file (a config, a state file)."""
    fd, st = open_regular(path)
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


def list_dir(path):
    """The names in a directory, listed with O_NOATIME (listing updates a directory's atime) and
    never through a symlink in the last component."""
    fd = open_noatime(path, os.O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
    try:
        return os.listdir(fd)
    finally:
        os.close(fd)


def is_real_dir(path):
    """A directory that is not reached through a symlink in its last component."""
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def describe_os_error(exc):
    """A one-line reason for an OSError: strerror and the file it is about."""
    reason = exc.strerror or str(exc)
    if exc.filename:
        return '%s: %s' % (exc.filename, reason)
    return reason


def display_path(raw):
    """Show a path that may hold any bytes.

    Valid UTF-8 stays readable; a backslash, control characters and bytes
    that are not UTF-8 are escaped, so the text maps back to exactly one name.
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
        elif code < 0x20 or 0x7f <= code < 0xa0:
            out.append('\\x%02x' % code)
        else:
            out.append(char)
    return ''.join(out)
