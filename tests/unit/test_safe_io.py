"""Reading evidence without changing it, and showing any path as text that maps back to one name."""

import errno
import os
import re
import stat
import time

import pytest

from ansible_collections.dfir.docker.plugins.module_utils._safe_io import (
    NotRegularFile,
    display_path,
    open_regular,
    read_small,
    utc_from_timestamp,
    utc_now,
)


def undisplay(text):
    """The inverse of display_path, written from its contract: bytes back from the shown text."""
    out = bytearray()
    index = 0
    while index < len(text):
        char = text[index]
        if char != '\\':
            out += char.encode('utf-8')
            index += 1
            continue
        code = text[index + 1]
        if code == '\\':
            out += b'\\'
            index += 2
        elif code == 'n':
            out += b'\n'
            index += 2
        elif code == 't':
            out += b'\t'
            index += 2
        elif code == 'x':
            out.append(int(text[index + 2:index + 4], 16))
            index += 4
        elif code == 'u':
            out += chr(int(text[index + 2:index + 6], 16)).encode('utf-8')
            index += 6
        else:
            raise ValueError('unknown escape in %r' % text)
    return bytes(out)


@pytest.mark.parametrize('raw, shown', [
    (b'/etc/passwd', '/etc/passwd'),
    ('/srv/caf\u00e9/\u65e5\u672c'.encode('utf-8'), '/srv/caf\u00e9/\u65e5\u672c'),
    (b'a\\b', 'a\\\\b'),
    (b'line\nbreak', 'line\\nbreak'),
    (b'tab\there', 'tab\\there'),
    (b'esc\x1b[31m', 'esc\\x1b[31m'),
    (b'del\x7f', 'del\\x7f'),
    (b'bad\xff\xfe', 'bad\\xff\\xfe'),
])
def test_display_path_escapes_what_a_terminal_would_hide_or_garble(raw, shown):
    assert display_path(raw) == shown
    assert undisplay(display_path(raw)) == raw


def test_display_path_is_one_to_one_even_for_c1_controls_and_stray_bytes():
    # U+009B (CSI) written as UTF-8, and the lone byte 0x9b that is not UTF-8, are two different names.
    names = [b'x\xc2\x9b', b'x\x9b', b'x\\x9b', b'x\\u009b', b'x\x1b', b'x\\x1b', b'x\n', b'x\\n']
    shown = [display_path(name) for name in names]
    assert len(set(shown)) == len(names), shown
    for name in names:
        assert undisplay(display_path(name)) == name


def test_display_path_of_text_with_surrogate_escapes_equals_that_of_the_bytes():
    raw = b'/var/lib/\xe9t\xe9'
    assert display_path(raw.decode('utf-8', 'surrogateescape')) == display_path(raw) == '/var/lib/\\xe9t\\xe9'


def test_open_regular_refuses_a_symlink_without_following_it(tmp_path):
    target = tmp_path / 'target'
    target.write_bytes(b'secret')
    link = tmp_path / 'link'
    link.symlink_to(target)
    with pytest.raises(NotRegularFile) as caught:
        open_regular(str(link))
    assert caught.value.errno == errno.ELOOP


def test_open_regular_refuses_a_fifo_without_blocking(tmp_path):
    fifo = str(tmp_path / 'fifo')
    os.mkfifo(fifo)
    started = time.monotonic()
    with pytest.raises(NotRegularFile):
        open_regular(fifo)
    assert time.monotonic() - started < 5


def test_open_regular_refuses_a_directory(tmp_path):
    with pytest.raises(OSError):
        open_regular(str(tmp_path))


def test_reading_does_not_change_the_access_time(tmp_path):
    path = tmp_path / 'evidence'
    path.write_bytes(b'content')
    old = 1000000000
    os.utime(str(path), (old, old))   # older than mtime rules of relatime would keep
    assert read_small(str(path)) == b'content'
    assert os.stat(str(path)).st_atime == old


def test_read_small_refuses_a_file_over_its_limit(tmp_path):
    path = tmp_path / 'big'
    path.write_bytes(b'x' * 100)
    with pytest.raises(OSError) as caught:
        read_small(str(path), limit=10)
    assert caught.value.errno == errno.EFBIG


def test_times_are_utc_iso8601_with_microseconds_and_z():
    assert re.match(r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$', utc_now())
    assert utc_from_timestamp(0) == '1970-01-01T00:00:00.000000Z'


# -- listing and opening below a directory fd, following nothing ---------------------------------------


def aged(path):
    """Set the atime a day before the mtime: under relatime the next read of the directory moves it."""
    st = os.lstat(path)
    os.utime(path, ns=(st.st_mtime_ns - 86400 * 10 ** 9, st.st_mtime_ns), follow_symlinks=False)
    return os.lstat(path).st_atime_ns


def test_listing_a_directory_leaves_its_atime_as_found(tmp_path):
    from ansible_collections.dfir.docker.plugins.module_utils._safe_io import list_dir, open_dir, walk_beneath
    (tmp_path / 'sub').mkdir()
    (tmp_path / 'sub' / 'f').write_bytes(b'x')
    before = (aged(str(tmp_path)), aged(str(tmp_path / 'sub')))
    assert list_dir(str(tmp_path)) == ['sub']
    fd = open_dir(str(tmp_path))
    try:
        assert [item[0] for item in walk_beneath(fd)] == ['sub', 'sub/f']
    finally:
        os.close(fd)
    assert (os.lstat(str(tmp_path)).st_atime_ns, os.lstat(str(tmp_path / 'sub')).st_atime_ns) == before
    os.listdir(str(tmp_path / 'sub'))   # the same listing without O_NOATIME moves it: the check above can fail
    assert os.lstat(str(tmp_path / 'sub')).st_atime_ns != before[1]


def host_beside_tree(tmp_path):
    """A host directory holding a secret, and beside it a tree whose d/secret is the container's own."""
    for name, data in (('host/secret', b'host secret'), ('tree/d/secret', b'container file')):
        os.makedirs(os.path.dirname(str(tmp_path / name)), exist_ok=True)
        (tmp_path / name).write_bytes(data)
    return tmp_path / 'host', tmp_path / 'tree'


def test_walking_lists_a_symlinked_directory_as_a_symlink_and_never_enters_it(tmp_path):
    from ansible_collections.dfir.docker.plugins.module_utils._safe_io import open_dir, walk_beneath
    outside, tree = host_beside_tree(tmp_path)
    os.rename(str(tree / 'd'), str(tmp_path / 'moved'))
    os.symlink(str(outside), str(tree / 'd'))
    fd = open_dir(str(tree))
    try:
        found = [(relative, stat.S_ISLNK(st.st_mode)) for relative, st, _fd, _name in walk_beneath(fd)]
    finally:
        os.close(fd)
    assert found == [('d', True)]


def test_a_component_swapped_for_a_symlink_is_not_followed(tmp_path):
    from ansible_collections.dfir.docker.plugins.module_utils._safe_io import open_dir, open_nofollow_beneath
    outside, tree = host_beside_tree(tmp_path)
    fd = open_dir(str(tree))
    try:
        opened, _st = open_nofollow_beneath(fd, 'd/secret')
        assert os.read(opened, 100) == b'container file'
        os.close(opened)
        os.rename(str(tree / 'd'), str(tree / 'd.before'))
        os.symlink(str(outside), str(tree / 'd'))
        with pytest.raises(OSError) as caught:
            open_nofollow_beneath(fd, 'd/secret')
        assert caught.value.errno == errno.ELOOP and caught.value.filename == 'd/secret'
        os.symlink('d.before/secret', str(tree / 'link'))
        with pytest.raises(NotRegularFile):
            open_nofollow_beneath(fd, 'link')
        with pytest.raises(OSError):
            open_nofollow_beneath(fd, '../host/secret')
    finally:
        os.close(fd)


def test_a_containers_directory_lists_shm_as_container_data_and_symlinks_with_their_target(tmp_path):
    from ansible_collections.dfir.docker.plugins.module_utils._docker_root import list_config_files
    cid = 'c' * 64
    directory = tmp_path / cid
    (directory / 'mounts' / 'shm' / 'd').mkdir(parents=True)
    (directory / 'config.v2.json').write_bytes(b'{}')
    (directory / ('%s-json.log' % cid)).write_bytes(b'log')
    (directory / 'mounts' / 'shm' / 'd' / 'secret').write_bytes(b'x')
    os.symlink('/etc', str(directory / 'mounts' / 'shm' / 'etc'))
    listing = list_config_files(str(directory), cid)
    assert listing.files == [('config.v2.json', 'container_config'), ('mounts/shm/d/secret', 'container_shm')]
    assert listing.special == [{'path': 'mounts/shm/etc', 'type': 'symlink', 'target': '/etc'}]
    assert 'mounts/shm/etc -> /etc' in listing.describe_special()
