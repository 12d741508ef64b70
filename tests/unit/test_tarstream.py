"""The PAX writer: what it writes must come back byte for byte through Python's tarfile and GNU tar."""

import hashlib
import io
import os
import subprocess
import tarfile

import pytest

from ansible_collections.dfir.docker.plugins.module_utils._tarstream import (
    Member,
    TarError,
    TarWriter,
    data_segments,
    ns_time,
    pax_record,
)

GIB = 1024 ** 3


def write_tar(members):
    """members: [(Member, data bytes or None)] -> tar bytes; also checks the counting size matches."""
    out = io.BytesIO()
    writer = TarWriter(out.write)
    counter = TarWriter(None)
    for member, data in members:
        for tar in (writer, counter):
            tar.add(member)
        if writer.is_open:
            writer.data(data)
            writer.end()
            counter.skip_data()
            counter.end()
    writer.close()
    counter.close()
    assert counter.offset == len(out.getvalue()) == writer.offset
    return out.getvalue()


def test_pax_record_length_counts_itself_across_a_digit_boundary():
    for size in range(0, 300):
        record = pax_record(b'k', b'v' * size)
        length = int(record.split(b' ', 1)[0])
        assert length == len(record)


def test_times_keep_nanoseconds_and_sign():
    assert ns_time(1700000000123456789) == b'1700000000.123456789'
    assert ns_time(1700000000000000000) == b'1700000000'
    assert ns_time(5) == b'0.000000005'
    assert ns_time(-1500000000) == b'-1.5'


def test_names_and_link_targets_survive_byte_for_byte_in_python_tarfile():
    names = [b'tmp/new\nline', b'tmp/\xffbyte', b'd/' + b'x' * 150 + b'/' + b'y' * 120, b'caf\xc3\xa9']
    members = [(Member(name, 'file', size=1, mtime_ns=1), b'z') for name in names]
    members.append((Member(b'link', 'symlink', 0o777, linkname=b'/etc/\xfe\nshadow', mtime_ns=1), None))
    archive = tarfile.open(fileobj=io.BytesIO(write_tar(members)))
    read = [os.fsencode(member.name) for member in archive]
    assert read == names + [b'link']
    assert os.fsencode(archive.getmember('link').linkname) == b'/etc/\xfe\nshadow'


def test_metadata_nanosecond_times_owner_mode_xattrs(tmp_path):
    capability = b'\x01\x00\x00\x02\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00'
    member = Member(b'bin/ping', 'file', 0o4755, 1001, 65534, b'app', b'nogroup', size=3,
                    mtime_ns=1700000000123456789, atime_ns=1600000000000000001, ctime_ns=1650000000999999999,
                    xattrs={'security.capability': capability, 'user.note': b'\xff\x00bin'})
    archive = tarfile.open(fileobj=io.BytesIO(write_tar([(member, b'abc')])))
    info = archive.getmember('bin/ping')
    assert (info.mode, info.uid, info.gid, info.uname, info.gname) == (0o4755, 1001, 65534, 'app', 'nogroup')
    pax = info.pax_headers
    assert pax['mtime'] == '1700000000.123456789'
    assert pax['atime'] == '1600000000.000000001'
    assert pax['ctime'] == '1650000000.999999999'
    assert pax['SCHILY.xattr.security.capability'].encode('utf-8', 'surrogateescape') == capability
    assert pax['SCHILY.xattr.user.note'].encode('utf-8', 'surrogateescape') == b'\xff\x00bin'


def test_special_files_are_entries_without_data():
    members = [
        (Member(b'dev/null', 'char_device', 0o666, devmajor=1, devminor=3, mtime_ns=1), None),
        (Member(b'dev/sda', 'block_device', 0o660, devmajor=8, devminor=0, mtime_ns=1), None),
        (Member(b'run/fifo', 'fifo', 0o600, mtime_ns=1), None),
        (Member(b'run/sock', 'socket', 0o755, mtime_ns=1), None),
        (Member(b'etc/', 'directory', 0o755, mtime_ns=1), None),
        (Member(b'etc/passwd', 'file', size=2, mtime_ns=1), b'ok'),
        (Member(b'root/pw', 'hardlink', linkname=b'etc/passwd', mtime_ns=1), None),
    ]
    archive = tarfile.open(fileobj=io.BytesIO(write_tar(members)))
    by_name = {member.name: member for member in archive}
    assert by_name['dev/null'].ischr() and (by_name['dev/null'].devmajor, by_name['dev/null'].devminor) == (1, 3)
    assert by_name['dev/sda'].isblk()
    assert by_name['run/fifo'].isfifo()
    assert by_name['run/sock'].isfifo() and by_name['run/sock'].pax_headers['SCHILY.filetype'] == 'socket'
    assert by_name['etc'].isdir()
    assert by_name['root/pw'].islnk() and by_name['root/pw'].linkname == 'etc/passwd'
    assert archive.extractfile('root/pw').read() == b'ok'


def test_a_file_larger_than_8_gib_gets_its_size_in_pax():
    member = Member(b'big', 'file', size=9 * GIB, sparse_map=[(9 * GIB - 4, 4)], mtime_ns=1)
    data = write_tar([(member, b'tail')])
    info = tarfile.open(fileobj=io.BytesIO(data)).getmember('big')
    assert info.size == 9 * GIB


def test_writer_refuses_more_data_than_announced_and_pads_what_is_missing():
    out = io.BytesIO()
    writer = TarWriter(out.write)
    writer.add(Member(b'f', 'file', size=10, mtime_ns=1))
    with pytest.raises(TarError):
        writer.data(b'x' * 11)
    writer.data(b'abc')
    assert writer.pad_missing() == 7
    writer.end()
    writer.close()
    assert tarfile.open(fileobj=io.BytesIO(out.getvalue())).extractfile('f').read() == b'abc' + b'\0' * 7


def sparse_file(path, size, chunks):
    with open(path, 'wb') as handle:
        handle.truncate(size)
        for offset, data in chunks:
            handle.seek(offset)
            handle.write(data)


def test_data_segments_find_the_data_of_a_sparse_file(tmp_path):
    path = str(tmp_path / 'sparse')
    sparse_file(path, GIB, [(512 * 1024 * 1024, b'data\n')])
    fd = os.open(path, os.O_RDONLY)
    try:
        segments = data_segments(fd, GIB)
    finally:
        os.close(fd)
    # the file system keeps data in blocks: the segment covers the 5 bytes, the end is a hole
    assert len(segments) == 2 and segments[-1] == (GIB, 0)
    offset, length = segments[0]
    assert offset <= 512 * 1024 * 1024 and offset + length >= 512 * 1024 * 1024 + 5 and length <= 1024 * 1024


def test_data_segments_of_a_dense_file_is_none(tmp_path):
    path = tmp_path / 'dense'
    path.write_bytes(os.urandom(100000))
    fd = os.open(str(path), os.O_RDONLY)
    try:
        assert data_segments(fd, 100000) is None
    finally:
        os.close(fd)


def expected_sparse_digest(size, offset, data):
    digest = hashlib.sha256()
    digest.update(b'\0' * offset)
    digest.update(data)
    remaining = size - offset - len(data)
    zeros = b'\0' * (1024 * 1024)
    while remaining:
        step = min(remaining, len(zeros))
        digest.update(zeros[:step])
        remaining -= step
    return digest.hexdigest()


def test_sparse_member_is_small_and_restored_whole_by_gnu_tar_and_tarfile(tmp_path):
    offset = 512 * 1024 * 1024
    member = Member(b'dir/\xffsparse', 'file', 0o640, size=GIB, sparse_map=[(offset, 5), (GIB, 0)],
                    mtime_ns=1700000000000000007)
    data = write_tar([(member, b'data\n')])
    assert len(data) < 16 * 1024
    expected = expected_sparse_digest(GIB, offset, b'data\n')

    archive = tarfile.open(fileobj=io.BytesIO(data))
    info = archive.getmembers()[0]
    assert os.fsencode(info.name) == b'dir/\xffsparse' and info.size == GIB
    digest = hashlib.sha256()
    handle = archive.extractfile(info)
    for block in iter(lambda: handle.read(1 << 20), b''):
        digest.update(block)
    assert digest.hexdigest() == expected

    tar_path = tmp_path / 'sparse.tar'
    tar_path.write_bytes(data)
    target = tmp_path / 'out'
    target.mkdir()
    subprocess.run(['tar', '-xf', str(tar_path), '-C', str(target)], check=True)
    restored = os.path.join(os.fsencode(str(target)), b'dir', b'\xffsparse')
    st = os.stat(restored)
    assert st.st_size == GIB and st.st_blocks * 512 < 1024 * 1024, 'GNU tar restored the holes'
    assert st.st_mtime_ns == 1700000000000000007
    with open(restored, 'rb') as handle:
        digest = hashlib.sha256()
        for block in iter(lambda: handle.read(1 << 20), b''):
            digest.update(block)
    assert digest.hexdigest() == expected


def test_gnu_tar_lists_and_extracts_names_bytes_times(tmp_path):
    members = [
        (Member(b'd/', 'directory', 0o755, mtime_ns=1700000000123456789), None),
        (Member(b'd/new\nline', 'file', 0o600, size=3, mtime_ns=1700000000000000001), b'one'),
        (Member(b'd/\xffbyte', 'file', 0o644, size=3, mtime_ns=1600000000000000002), b'two'),
        (Member(b'd/hard', 'hardlink', linkname=b'd/\xffbyte', mtime_ns=1), None),
        (Member(b'd/leak', 'symlink', 0o777, linkname=b'/etc/shadow', mtime_ns=3), None),
        (Member(b'd/fifo', 'fifo', 0o644, mtime_ns=4), None),
    ]
    tar_path = tmp_path / 'a.tar'
    tar_path.write_bytes(write_tar(members))
    target = tmp_path / 'out'
    target.mkdir()
    subprocess.run(['tar', '-xpf', str(tar_path), '-C', str(target)], check=True, stderr=subprocess.DEVNULL)
    base = os.path.join(os.fsencode(str(target)), b'd')
    assert sorted(os.listdir(base)) == sorted([b'new\nline', b'\xffbyte', b'hard', b'leak', b'fifo'])
    with open(os.path.join(base, b'new\nline'), 'rb') as handle:
        assert handle.read() == b'one'
    assert os.stat(os.path.join(base, b'new\nline')).st_mtime_ns == 1700000000000000001
    assert os.stat(os.path.join(base, b'hard')).st_ino == os.stat(os.path.join(base, b'\xffbyte')).st_ino
    assert os.readlink(os.path.join(base, b'leak')) == b'/etc/shadow'
    assert os.stat(base).st_mtime_ns == 1700000000123456789
