"""open_beneath: a path inside a container root never resolves outside it."""

import errno
import os

import pytest

from ansible_collections.dfir.docker.plugins.module_utils._safe_io import (
    O_DIRECTORY,
    O_PATH,
    NotRegularFile,
    open_beneath,
    read_small_beneath,
)


@pytest.fixture()
def root(tmp_path):
    """A fake container root beside a fake host /etc, so an escape would be seen."""
    host_etc = tmp_path / 'etc'
    host_etc.mkdir()
    (host_etc / 'shadow').write_bytes(b'HOST SHADOW\n')
    container = tmp_path / 'rootfs'
    (container / 'etc').mkdir(parents=True)
    (container / 'etc' / 'shadow').write_bytes(b'CONTAINER SHADOW\n')
    (container / 'etc' / 'group').write_bytes(b'root:x:0:\n')
    fd = os.open(str(container), O_PATH | O_DIRECTORY)
    yield container, fd
    os.close(fd)


def read(fd, path):
    return read_small_beneath(fd, path)


def test_an_absolute_symlink_to_etc_shadow_resolves_inside_the_container(root):
    container, fd = root
    os.symlink('/etc/shadow', str(container / 'etc' / 'passwd'))
    assert read(fd, '/etc/passwd') == b'CONTAINER SHADOW\n'


def test_dot_dot_never_climbs_above_the_root(root):
    container, fd = root
    os.symlink('../../../../../etc/shadow', str(container / 'etc' / 'passwd'))
    assert read(fd, '/etc/passwd') == b'CONTAINER SHADOW\n'
    assert read(fd, '../../etc/shadow') == b'CONTAINER SHADOW\n'


def test_a_symlinked_directory_is_resolved_inside_too(root):
    container, fd = root
    os.rename(str(container / 'etc'), str(container / 'real-etc'))
    os.symlink('/real-etc', str(container / 'etc'))
    assert read(fd, '/etc/group') == b'root:x:0:\n'


def test_a_symlink_loop_is_an_error_not_a_hang(root):
    container, fd = root
    os.symlink('/etc/b', str(container / 'etc' / 'a'))
    os.symlink('/etc/a', str(container / 'etc' / 'b'))
    with pytest.raises(OSError) as caught:
        read(fd, '/etc/a')
    assert caught.value.errno == errno.ELOOP and caught.value.filename == '/etc/a'


def test_missing_files_and_non_directories_say_so(root):
    container, fd = root
    with pytest.raises(OSError) as caught:
        read(fd, '/etc/passwd')
    assert caught.value.errno == errno.ENOENT and caught.value.filename == '/etc/passwd'
    with pytest.raises(OSError) as caught:
        read(fd, '/etc/group/passwd')
    assert caught.value.errno == errno.ENOTDIR


def test_a_fifo_or_directory_is_refused_and_never_blocks(root):
    container, fd = root
    os.mkfifo(str(container / 'etc' / 'passwd'))
    with pytest.raises(NotRegularFile):
        open_beneath(fd, '/etc/passwd')
    with pytest.raises(NotRegularFile):
        open_beneath(fd, '/etc')
