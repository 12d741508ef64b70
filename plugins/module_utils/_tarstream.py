# -*- coding: utf-8 -*-
# Copyright: dfir.docker contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A streaming POSIX.1-2001 (PAX) tar writer for evidence.

Private to the collection.  Standard library only.  `tarfile` cannot write
what evidence needs, so this writes it by hand:

- names and link targets as raw bytes (a PAX ``path``/``linkpath`` with
  ``hdrcharset=BINARY`` when they are not UTF-8), so a name with a newline
  or a byte 0xff comes back byte for byte;
- ``mtime``, ``atime`` and ``ctime`` with nanoseconds;
- uid, gid, uname, gname, the whole mode (setuid, sticky...);
- extended attributes as ``SCHILY.xattr.<name>`` (``security.capability``);
- hard links, fifos, character and block devices as entries; a socket,
  which tar has no type for, as a fifo entry marked ``SCHILY.filetype=socket``;
- sparse files in the PAX 1.0 sparse format (``GNU.sparse.major=1``): only
  the data is stored, and GNU tar, libarchive and Python's tarfile restore
  the holes.

Nothing is buffered beyond one megabyte: headers are small, and file data
is handed to the sink as it is read.  With no sink the writer only counts,
which gives the exact size an export will have (check mode).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import os

BLOCK = 512
BUFFER = 1024 * 1024
DIRECT = 64 * 1024

TYPEFLAGS = {
    'file': b'0', 'hardlink': b'1', 'symlink': b'2', 'char_device': b'3', 'block_device': b'4',
    'directory': b'5', 'fifo': b'6', 'socket': b'6',
}
MAX_OCTAL_7 = 0o7777777
MAX_OCTAL_11 = 0o77777777777


class TarError(Exception):
    """The writer was used inconsistently (a bug) or a value cannot be encoded."""


class Member:
    """One tar entry.  `name` is bytes, relative (no leading '/'); directories end in '/'."""

    __slots__ = ('name', 'kind', 'mode', 'uid', 'gid', 'uname', 'gname', 'size', 'mtime_ns', 'atime_ns',
                 'ctime_ns', 'linkname', 'devmajor', 'devminor', 'xattrs', 'sparse_map', 'records')

    def __init__(self, name, kind, mode=0o644, uid=0, gid=0, uname=b'', gname=b'', size=0, mtime_ns=0,
                 atime_ns=None, ctime_ns=None, linkname=b'', devmajor=0, devminor=0, xattrs=None,
                 sparse_map=None, records=None):
        self.name = name
        self.kind = kind
        self.mode = mode
        self.uid = uid
        self.gid = gid
        self.uname = uname or b''
        self.gname = gname or b''
        self.size = size              # for a file: its real size (a sparse file too)
        self.mtime_ns = mtime_ns
        self.atime_ns = atime_ns
        self.ctime_ns = ctime_ns
        self.linkname = linkname or b''
        self.devmajor = devmajor
        self.devminor = devminor
        self.xattrs = xattrs or {}    # {str name: bytes value}
        self.sparse_map = sparse_map  # [(offset, length)] of the data, or None
        self.records = records or []  # extra [(str key, bytes value)]

    def stored_size(self):
        """Bytes of data that follow the header (map included for a sparse file)."""
        if self.kind != 'file':
            return 0
        if self.sparse_map is None:
            return self.size
        return len(sparse_map_block(self.sparse_map)) + sum(length for _offset, length in self.sparse_map)


def ns_time(value_ns):
    """A PAX time: seconds, and the nanoseconds when there are any (sign handled)."""
    sign = b'-' if value_ns < 0 else b''
    seconds, nanos = divmod(abs(value_ns), 1000000000)
    if not nanos:
        return sign + b'%d' % seconds
    return sign + (b'%d.%09d' % (seconds, nanos)).rstrip(b'0')


def pax_record(key, value):
    """One ``"<length> <key>=<value>\\n"`` record; the length counts itself."""
    body = b' ' + key + b'=' + value + b'\n'
    length = len(body) + 1
    while len(b'%d' % length) + len(body) != length:
        length = len(b'%d' % length) + len(body)
    return b'%d' % length + body


def _is_utf8(value):
    try:
        value.decode('utf-8')
        return True
    except UnicodeDecodeError:
        return False


def sparse_map_block(sparse_map):
    """The PAX 1.0 sparse map that starts the data: counts and pairs in decimal, padded to a block."""
    text = b'%d\n' % len(sparse_map) + b''.join(b'%d\n%d\n' % (offset, length) for offset, length in sparse_map)
    return text + b'\0' * (-len(text) % BLOCK)


def _octal(value, width):
    """A NUL-terminated octal field of `width` bytes."""
    return (b'%0*o' % (width - 1, value)) + b'\0'


def _field(value, width):
    return value[:width].ljust(width, b'\0')


def _split_ustar_name(name):
    """(prefix, name) for the ustar fields; a name too long for them is cut (PAX holds it whole)."""
    if len(name) <= 100:
        return b'', name
    cut = name.rfind(b'/', 0, 156)
    while cut > 0:
        if len(name) - cut - 1 <= 100 and cut <= 155:
            return name[:cut], name[cut + 1:]
        cut = name.rfind(b'/', 0, cut)
    return b'', name[:100]


def ustar_header(name, typeflag, mode, uid, gid, size, mtime, linkname=b'', uname=b'', gname=b'',
                 devmajor=0, devminor=0):
    prefix, short = _split_ustar_name(name)
    header = b''.join([
        _field(short, 100),
        _octal(mode & 0o7777, 8),
        _octal(uid if 0 <= uid <= MAX_OCTAL_7 else 0, 8),
        _octal(gid if 0 <= gid <= MAX_OCTAL_7 else 0, 8),
        _octal(size if size <= MAX_OCTAL_11 else 0, 12),
        _octal(min(max(mtime, 0), MAX_OCTAL_11), 12),
        b' ' * 8,
        typeflag,
        _field(linkname, 100),
        b'ustar\x0000',
        _field(uname, 32),
        _field(gname, 32),
        _octal(devmajor if 0 <= devmajor <= MAX_OCTAL_7 else 0, 8),
        _octal(devminor if 0 <= devminor <= MAX_OCTAL_7 else 0, 8),
        _field(prefix, 155),
        b'\0' * 12,
    ])
    checksum = b'%06o\0 ' % sum(header)
    return header[:148] + checksum + header[156:]


def member_headers(member):
    """The PAX extended header and the ustar header of one member, as bytes."""
    records = []
    sparse = member.kind == 'file' and member.sparse_map is not None
    binary = not all(_is_utf8(value) for value in (member.name, member.linkname, member.uname, member.gname))
    if binary:
        records.append(pax_record(b'hdrcharset', b'BINARY'))
    if sparse:
        # The PAX 1.0 sparse layout: the real name is GNU.sparse.name; the ustar
        # name is a stand-in, so a reader without sparse support does not
        # write the map and data under the real name.
        records.append(pax_record(b'GNU.sparse.major', b'1'))
        records.append(pax_record(b'GNU.sparse.minor', b'0'))
        records.append(pax_record(b'GNU.sparse.name', member.name))
        records.append(pax_record(b'GNU.sparse.realsize', b'%d' % member.size))
        directory, _sep, base = member.name.rpartition(b'/')
        ustar_name = (directory + b'/' if directory else b'') + b'GNUSparseFile.0/' + base
    else:
        records.append(pax_record(b'path', member.name))
        ustar_name = member.name
    if member.linkname:
        records.append(pax_record(b'linkpath', member.linkname))
    stored = member.stored_size()
    if stored > MAX_OCTAL_11:
        records.append(pax_record(b'size', b'%d' % stored))
    if not 0 <= member.uid <= MAX_OCTAL_7:
        records.append(pax_record(b'uid', b'%d' % member.uid))
    if not 0 <= member.gid <= MAX_OCTAL_7:
        records.append(pax_record(b'gid', b'%d' % member.gid))
    if member.uname:
        records.append(pax_record(b'uname', member.uname))
    if member.gname:
        records.append(pax_record(b'gname', member.gname))
    records.append(pax_record(b'mtime', ns_time(member.mtime_ns)))
    if member.atime_ns is not None:
        records.append(pax_record(b'atime', ns_time(member.atime_ns)))
    if member.ctime_ns is not None:
        records.append(pax_record(b'ctime', ns_time(member.ctime_ns)))
    if member.kind == 'socket':
        records.append(pax_record(b'SCHILY.filetype', b'socket'))
    for attr in sorted(member.xattrs):
        records.append(pax_record(b'SCHILY.xattr.' + attr.encode('utf-8', 'surrogateescape'), member.xattrs[attr]))
    for key, value in member.records:
        records.append(pax_record(key.encode('utf-8'), value))
    body = b''.join(records)
    mtime = member.mtime_ns // 1000000000
    base = ustar_name.rstrip(b'/').rpartition(b'/')[2][:80] or b'root'
    pax = ustar_header(b'PaxHeaders/' + base, b'x', 0o644, 0, 0, len(body), mtime)
    pax += body + b'\0' * (-len(body) % BLOCK)
    main = ustar_header(ustar_name, TYPEFLAGS[member.kind], member.mode, member.uid, member.gid, stored, mtime,
                        member.linkname, member.uname, member.gname, member.devmajor, member.devminor)
    return pax + main


class TarWriter:
    """Writes members to `sink(bytes)`; with sink None, only counts the bytes it would write."""

    def __init__(self, sink=None):
        self.sink = sink
        self.offset = 0
        self._buffer = bytearray()
        self._expected = 0     # data bytes the current member still owes
        self._pad = 0
        self._open = False

    @property
    def counting(self):
        return self.sink is None

    @property
    def is_open(self):
        """A member whose data is still owed."""
        return self._open

    def _out(self, data):
        self.offset += len(data)
        if self.sink is None:
            return
        if len(data) >= DIRECT:
            self.flush()
            self.sink(data)
            return
        self._buffer += data
        if len(self._buffer) >= BUFFER:
            self.flush()

    def flush(self):
        if self._buffer and self.sink is not None:
            self.sink(bytes(self._buffer))
            del self._buffer[:]

    def add(self, member):
        """Write the headers of a member; for a file, data() must then supply its stored bytes."""
        if self._open:
            raise TarError('the previous member was not finished')
        self._out(member_headers(member))
        stored = member.stored_size()
        if member.kind == 'file' and member.sparse_map is not None:
            block = sparse_map_block(member.sparse_map)
            self._out(block)
            stored -= len(block)
        self._expected = stored
        self._pad = -member.stored_size() % BLOCK
        self._open = True
        if stored == 0:
            self.end()

    def data(self, chunk):
        if len(chunk) > self._expected:
            raise TarError('%d bytes more than the header announced' % (len(chunk) - self._expected))
        self._expected -= len(chunk)
        self._out(chunk)

    def skip_data(self):
        """Count the rest of the member's data without writing it (counting mode only)."""
        if self.sink is not None:
            raise TarError('skip_data is for counting only')
        self.offset += self._expected
        self._expected = 0

    def pad_missing(self):
        """Fill what the member still owes with zeros (the file shrank or failed while read).

        Returns how many bytes were filled.
        """
        missing = self._expected
        zeros = bytes(min(missing, BUFFER))
        while self._expected:
            self.data(zeros[:min(self._expected, len(zeros))])
        return missing

    def end(self):
        if not self._open:
            raise TarError('no member is open')
        if self._expected:
            raise TarError('%d data bytes missing' % self._expected)
        self._out(b'\0' * self._pad)
        self._open = False

    def close(self):
        """The end-of-archive marker: two zero blocks."""
        if self._open:
            raise TarError('the last member was not finished')
        self._out(b'\0' * (2 * BLOCK))
        self.flush()


def data_segments(fd, size):
    """The sparse map of an open file: [(offset, length)] of its data, or None when it has no hole.

    Uses SEEK_DATA/SEEK_HOLE; a file system that does not know them gives
    None (the file is then stored whole).  A hole at the end is closed by a
    zero-length segment at the real size, as GNU tar does.
    """
    seek_data = getattr(os, 'SEEK_DATA', None)
    seek_hole = getattr(os, 'SEEK_HOLE', None)
    if seek_data is None or size == 0:
        return None
    segments = []
    offset = 0
    try:
        while offset < size:
            try:
                start = os.lseek(fd, offset, seek_data)
            except OSError as exc:
                if exc.errno == errno.ENXIO:  # only a hole from here to the end
                    break
                raise
            if start >= size:
                break
            end = min(os.lseek(fd, start, seek_hole), size)
            segments.append((start, end - start))
            offset = end
    except OSError:
        return None
    finally:
        try:
            os.lseek(fd, 0, os.SEEK_SET)
        except OSError:
            pass
    if len(segments) == 1 and segments[0] == (0, size):
        return None
    if not segments or segments[-1][0] + segments[-1][1] < size:
        segments.append((size, 0))
    return segments
