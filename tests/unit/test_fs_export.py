"""TarExport on real files of every type: what the tar holds, what the report says, what it never does."""

import hashlib
import io
import json
import os
import shutil
import socket
import stat
import tarfile
import tempfile

import pytest

from ansible_collections.dfir.docker.plugins.module_utils._fs_export import IdNames, Report, TarExport
from ansible_collections.dfir.docker.plugins.module_utils._layers import Layer, LayerStack
from ansible_collections.dfir.docker.plugins.module_utils._tree import ReadOnlyTree

GIB = 1024 ** 3


@pytest.fixture()
def layer_dir():
    """A world-readable directory (so an unprivileged reader can walk it) with files of every type."""
    if os.geteuid() != 0:
        pytest.fail('these tests make devices and files owned by others: run them as root')
    base = tempfile.mkdtemp(prefix='dfir-export-unit-', dir='/var/tmp')
    os.chmod(base, 0o755)
    layer = os.path.join(base, 'layer')
    os.makedirs(os.path.join(layer, 'etc'))
    for directory in (layer, os.path.join(layer, 'etc')):
        os.chmod(directory, 0o755)
    with open(os.path.join(layer, 'etc', 'passwd'), 'wb') as handle:
        handle.write(b'root:x:0:0::/root:/bin/sh\napp:x:1001:1001::/home/app:/bin/sh\n')
    with open(os.path.join(layer, 'etc', 'group'), 'wb') as handle:
        handle.write(b'root:x:0:\napp:x:1001:\n')
    with open(os.path.join(layer, 'data'), 'wb') as handle:
        handle.write(os.urandom(3 * 1024 * 1024 + 17))
    os.link(os.path.join(layer, 'data'), os.path.join(layer, 'data.hard'))
    with open(os.path.join(layer, 'sparse'), 'wb') as handle:
        handle.truncate(GIB)
        handle.seek(GIB // 2)
        handle.write(b'middle')
    with open(os.path.join(layer, 'secret'), 'wb') as handle:
        handle.write(b'root only')
    os.chmod(os.path.join(layer, 'secret'), 0o600)
    os.chown(os.path.join(layer, 'data'), 1001, 1001)
    os.mkfifo(os.path.join(layer, 'fifo'))
    os.mknod(os.path.join(layer, 'null'), stat.S_IFCHR | 0o666, os.makedev(1, 3))
    server = socket.socket(socket.AF_UNIX)
    server.bind(os.path.join(layer, 'sock'))
    server.close()
    os.symlink('/etc/shadow', os.path.join(layer, 'leak'))
    os.setxattr(os.path.join(layer, 'data'), 'user.origin', b'\xffunit')
    yield base, layer
    shutil.rmtree(base)


def export(base, layer, sink=None, use_view=True):
    tree = ReadOnlyTree(base, use_view)
    try:
        stack = LayerStack(tree, [Layer(0, 'tree', layer)], whiteout_format=None)
        report = Report('test', 'test.tar')
        names = IdNames.from_stack(stack)
        run = TarExport(stack, sink, names, report)
        run.merged()
        run.finish()
        return run.size, report
    finally:
        tree.close()


def members(data):
    return {member.name: member for member in tarfile.open(fileobj=io.BytesIO(data))}


def test_every_file_type_as_an_entry_and_the_count_matches_the_dry_run(layer_dir):
    base, layer = layer_dir
    out = io.BytesIO()
    size, report = export(base, layer, out.write)
    dry_size, dry_report = export(base, layer, None)
    assert size == len(out.getvalue()) == dry_size
    assert dry_report.entries == report.entries
    tar = members(out.getvalue())
    assert set(tar) == {'etc', 'etc/passwd', 'etc/group', 'data', 'data.hard', 'sparse', 'secret', 'fifo',
                        'null', 'sock', 'leak'}
    assert tar['fifo'].isfifo() and tar['null'].ischr() and tar['leak'].issym()
    assert tar['sock'].pax_headers.get('SCHILY.filetype') == 'socket'
    assert tar['data.hard'].islnk() and tar['data.hard'].linkname == 'data'
    assert (tar['data'].uid, tar['data'].uname, tar['etc'].uname) == (1001, 'app', 'root')
    assert tar['data'].pax_headers['SCHILY.xattr.user.origin'].encode('utf-8', 'surrogateescape') == b'\xffunit'
    with open(os.path.join(layer, 'data'), 'rb') as handle:
        expected = hashlib.sha256(handle.read()).hexdigest()
    archive = tarfile.open(fileobj=io.BytesIO(out.getvalue()))
    assert hashlib.sha256(archive.extractfile('data').read()).hexdigest() == expected
    assert report.counts == {'directory': 1, 'file': 5, 'hardlink': 1, 'fifo': 1, 'char_device': 1, 'socket': 1,
                             'symlink': 1}
    assert report.complete


def test_a_sparse_gigabyte_stays_small(layer_dir):
    base, layer = layer_dir
    out = io.BytesIO()
    export(base, layer, out.write)
    assert len(out.getvalue()) < 4 * 1024 * 1024 + 3 * 1024 * 1024 + 64 * 1024
    info = members(out.getvalue())['sparse']
    assert info.size == GIB and info.sparse is not None
    handle = tarfile.open(fileobj=io.BytesIO(out.getvalue())).extractfile('sparse')
    handle.seek(GIB // 2)
    assert handle.read(6) == b'middle'


def test_an_unreadable_file_is_listed_and_the_export_goes_on(layer_dir):
    """An unprivileged reader (a responder without root on a mounted image) meets a 0600 file."""
    base, layer = layer_dir
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:
        try:
            os.close(read_end)
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            out = io.BytesIO()
            _size, report = export(base, layer, out.write, use_view=False)
            names = sorted(members(out.getvalue()))
            message = json.dumps({'unreadable': report.unreadable, 'names': names, 'complete': report.complete})
            os.write(write_end, message.encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, 'rb') as handle:
        received = handle.read()
    os.waitpid(child, 0)
    result = json.loads(received.decode())
    assert [item['path'] for item in result['unreadable']] == ['/secret']
    assert 'Permission denied' in result['unreadable'][0]['error']
    assert 'secret' not in result['names'] and 'data' in result['names'] and 'sparse' in result['names']
    assert result['complete'] is False


class ShrinkingExport(TarExport):
    """Truncates a file after its header is decided, as a process in a running container might."""

    def _copy(self, fd, entry, fst, sparse_map):
        if entry.path == b'/data':
            os.truncate(os.path.join(self.stack.layers[0].host_dir, 'data'), 1000)
        return TarExport._copy(self, fd, entry, fst, sparse_map)


def test_a_file_that_shrinks_while_read_keeps_its_header_size_and_is_reported(layer_dir):
    base, layer = layer_dir
    tree = ReadOnlyTree(base, use_view=False)
    out = io.BytesIO()
    try:
        stack = LayerStack(tree, [Layer(0, 'tree', layer)], whiteout_format=None)
        report = Report('test', 'test.tar')
        run = ShrinkingExport(stack, out.write, IdNames(), report)
        run.merged()
        run.finish()
    finally:
        tree.close()
    archive = tarfile.open(fileobj=io.BytesIO(out.getvalue()))
    data = archive.extractfile('data').read()
    assert len(data) == 3 * 1024 * 1024 + 17 and data[1000:] == b'\0' * (len(data) - 1000)
    assert [item['path'] for item in report.changed] == ['/data']
    assert report.changed[0]['zero_filled_bytes'] == len(data) - 1000
    assert not report.complete


def test_a_tree_whose_layer_is_the_tree_itself_is_listed(layer_dir):
    """A bind-mount source or a volume read on its own: the tree's root fd is reopened to be listed."""
    _base, layer = layer_dir
    out = io.BytesIO()
    size, report = export(layer, layer, out.write)
    assert report.entries == 11 and 'data' in members(out.getvalue())
