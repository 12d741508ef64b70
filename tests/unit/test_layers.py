"""The layer resolver on layer directories built here, byte for byte as overlayfs and aufs store them.

Whiteout devices and trusted.* attributes need root, as the real drivers do.
"""

import errno
import os
import shutil
import stat

import pytest

from ansible_collections.dfir.docker.plugins.module_utils._fs_export import read_container_file
from ansible_collections.dfir.docker.plugins.module_utils._layers import (
    Layer,
    LayerError,
    LayerStack,
    WHITEOUT_AUFS,
    WHITEOUT_OVERLAY,
)
from ansible_collections.dfir.docker.plugins.module_utils._tree import ReadOnlyTree, METHOD_VIEW


@pytest.fixture(autouse=True)
def needs_root():
    if os.geteuid() != 0:
        pytest.fail('these tests make whiteout devices and trusted.overlay attributes: run them as root')


def put(layer_dir, path, data=b'', mode=0o644):
    full = os.path.join(layer_dir, path)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, 'wb') as handle:
        handle.write(data)
    os.chmod(full, mode)
    return full


def mkdir(layer_dir, path):
    full = os.path.join(layer_dir, path)
    os.makedirs(full, exist_ok=True)
    return full


def whiteout(layer_dir, path, fmt):
    if fmt == WHITEOUT_OVERLAY:
        full = os.path.join(layer_dir, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        os.mknod(full, stat.S_IFCHR | 0o000, os.makedev(0, 0))
    else:
        directory, name = os.path.split(path)
        put(layer_dir, os.path.join(directory, '.wh.' + name))


def opaque(layer_dir, path, fmt):
    full = mkdir(layer_dir, path)
    if fmt == WHITEOUT_OVERLAY:
        os.setxattr(full, 'trusted.overlay.opaque', b'y')
    else:
        put(layer_dir, os.path.join(path, '.wh..wh..opq'))


def build(base, fmt):
    """Three layers (oldest first) with every rule of the merge in play; returns the stack."""
    layers = [os.path.join(base, 'layers', name) for name in ('image0', 'image1', 'upper')]
    for directory in layers:
        os.makedirs(directory)
    image0, image1, upper = layers
    put(image0, 'a/x', b'x0')
    put(image0, 'a/y', b'y0')
    put(image0, 'b/f', b'f0')
    put(image0, 'c/old', b'old')
    put(image0, 'etc/shadow', b'root:container-shadow:0:0:99999:7:::\n', 0o600)
    put(image0, 'etc/passwd', b'root:x:0:0:root:/root:/bin/sh\napp:x:1001:1001::/home/app:/bin/sh\n')
    put(image0, 'etc/group', b'root:x:0:\napp:x:1001:\n')
    put(image0, 'gone/dir/file', b'hidden by a whiteout of its parent')
    mkdir(image0, 'e')   # a directory below a file: the file wins
    put(image0, 'e/lost', b'below a file')
    whiteout(image1, 'a/x', fmt)
    opaque(image1, 'c', fmt)
    put(image1, 'c/new', b'new')
    whiteout(image1, 'gone', fmt)
    os.symlink('/a', os.path.join(image1, 'd'))
    put(upper, 'b/f', b'f2')
    put(upper, 'e', b'e is a file now')
    os.symlink('/etc/shadow', os.path.join(upper, 'leak'))
    os.symlink('../../../../../etc/shadow', os.path.join(mkdir(upper, 'deep/er'), 'up'))
    os.symlink('loop2', os.path.join(upper, 'loop1'))
    os.symlink('loop1', os.path.join(upper, 'loop2'))
    # A directory of the layer swapped for a symlink into the host: never followed.
    os.symlink('/etc', os.path.join(upper, 'hostetc'))
    tree = ReadOnlyTree(base)
    stack = LayerStack(tree, [Layer(0, 'image', image0), Layer(1, 'image', image1), Layer(2, 'container', upper)], fmt)
    return stack


@pytest.fixture(params=[WHITEOUT_OVERLAY, WHITEOUT_AUFS])
def stack(request, tmp_path):
    built = build(str(tmp_path), request.param)
    yield built
    built.tree.close()


def merged(stack):
    return {entry.path: (entry.kind, entry.layer.index) for entry in stack.walk()}


def test_merged_view_applies_whiteouts_opaque_dirs_and_newest_wins(stack):
    view = merged(stack)
    assert b'/a/x' not in view, 'whited out in layer 1'
    assert view[b'/a/y'] == ('file', 0)
    assert view[b'/b/f'] == ('file', 2), 'the upper copy hides the image copy'
    assert view[b'/c/new'] == ('file', 1)
    assert b'/c/old' not in view, 'hidden by the opaque directory'
    assert b'/gone' not in view and b'/gone/dir/file' not in view
    assert view[b'/e'] == ('file', 2) and b'/e/lost' not in view
    assert view[b'/d'] == ('symlink', 1)
    assert view[b'/hostetc'] == ('symlink', 2)
    assert not any(path.startswith(b'/hostetc/') for path in view), 'a symlink is never walked into'
    assert not any(b'.wh.' in path for path in view)


def test_merged_entries_come_sorted_with_directories_first(stack):
    paths = [entry.path for entry in stack.walk()]
    assert paths[0] == b'/'
    for index, path in enumerate(paths[1:], 1):
        parent = path.rsplit(b'/', 1)[0] or b'/'
        assert parent in paths[:index]


def test_reading_the_content_gives_the_visible_version(stack):
    assert read_container_file(stack, b'/b/f', 1024) == b'f2'
    assert read_container_file(stack, b'/a/y', 1024) == b'y0'


def test_absolute_symlink_resolves_inside_the_container_root(stack):
    entry, resolved, links = stack.resolve(b'/leak')
    assert resolved == b'/etc/shadow' and entry.layer.index == 0
    assert links == [(b'/leak', b'/etc/shadow')]
    data = read_container_file(stack, b'/leak', 4096)
    assert data == b'root:container-shadow:0:0:99999:7:::\n'
    with open('/etc/shadow', 'rb') as handle:
        assert handle.read() != data


def test_dotdot_is_clamped_at_the_container_root(stack):
    entry, resolved, _links = stack.resolve(b'/deep/er/up')
    assert resolved == b'/etc/shadow' and entry is not None
    assert stack.resolve(b'/../../etc/passwd')[1] == b'/etc/passwd'


def test_symlink_in_the_middle_of_a_path_is_followed_inside_the_root(stack):
    entry, resolved, _links = stack.resolve(b'/d/y')
    assert resolved == b'/a/y' and entry.layer.index == 0


def test_a_symlink_loop_is_an_error_not_a_hang(stack):
    with pytest.raises(LayerError) as caught:
        stack.resolve(b'/loop1')
    assert caught.value.errno == errno.ELOOP


def test_a_host_symlink_planted_in_a_layer_leads_nowhere_on_the_host(stack):
    entry, resolved, _links = stack.resolve(b'/hostetc/hostname')
    # /hostetc -> /etc is read as the container's /etc, which has no hostname
    assert resolved == b'/etc/hostname' and entry is None
    assert stack.lookup(b'/hostetc/passwd') is None


def test_walk_layer_shows_markers_and_versions_reach_hidden_entries(stack):
    image1 = stack.layers[1]
    raw = {(entry.path, entry.marker): entry for entry in stack.walk_layer(image1)}
    assert (b'/a/x', 'whiteout') in raw
    assert (b'/gone', 'whiteout') in raw
    assert raw[(b'/c', None)].opaque
    assert (b'/c/.wh..wh..opq', 'opaque') in raw
    versions, visible = stack.versions(b'/a/x')
    assert [(item.layer.index, item.marker) for item in versions] == [(1, 'whiteout'), (0, None)]
    assert visible is None
    versions, visible = stack.versions(b'/b/f')
    assert [item.layer.index for item in versions] == [2, 0] and visible == 0
    versions, visible = stack.versions(b'/c/old')
    assert [item.layer.index for item in versions] == [0] and visible is None


def test_glob_matches_in_the_merged_view(stack):
    assert stack.glob(b'/a/*') == [b'/a/y']
    assert stack.glob(b'/etc/pass*') == [b'/etc/passwd']
    assert stack.glob(b'/d/?') == [b'/a/y'], 'a symlinked directory in the middle is resolved in the root'
    assert stack.glob(b'/nothing/*') == []


def test_a_missing_layer_directory_is_named_and_the_rest_still_merges(tmp_path):
    base = str(tmp_path)
    present = mkdir(base, 'layers/present')
    put(present, 'kept', b'k')
    tree = ReadOnlyTree(base)
    try:
        stack = LayerStack(tree, [Layer(0, 'image', os.path.join(base, 'layers/missing'), diff_id='sha256:aa'),
                                  Layer(1, 'container', present)])
        view = merged(stack)
        assert view[b'/kept'] == ('file', 1)
        assert any('sha256:aa' in problem for problem in stack.problems)
    finally:
        tree.close()


def test_the_read_only_view_refuses_writes_and_keeps_atimes(tmp_path):
    base = str(tmp_path)
    layer = mkdir(base, 'layer')
    os.symlink('/etc/shadow', os.path.join(layer, 'link'))
    put(layer, 'dir/file', b'data')
    old = (1000000000, 1000000000)
    for path in (os.path.join(layer, 'link'),):
        os.utime(path, old, follow_symlinks=False)
    os.utime(os.path.join(layer, 'dir'), old)
    os.utime(os.path.join(layer, 'dir', 'file'), old)
    tree = ReadOnlyTree(base)
    try:
        assert tree.method == METHOD_VIEW, tree.view_error
        stack = LayerStack(tree, [Layer(0, 'tree', layer)], whiteout_format=None)
        assert stack.resolve(b'/link', follow=False)[0] is not None
        assert stack.read_symlink(stack.lookup(b'/link')) == b'/etc/shadow'
        assert read_container_file(stack, b'/dir/file', 100) == b'data'
        assert [entry.path for entry in stack.walk()] == [b'/', b'/dir', b'/dir/file', b'/link']
        with pytest.raises(OSError) as caught:
            os.open('new', os.O_CREAT | os.O_WRONLY, 0o600, dir_fd=tree.fd)
        assert caught.value.errno == errno.EROFS
    finally:
        tree.close()
    assert os.lstat(os.path.join(layer, 'link')).st_atime == old[0]
    assert os.stat(os.path.join(layer, 'dir')).st_atime == old[0]
    assert os.stat(os.path.join(layer, 'dir', 'file')).st_atime == old[0]


def copy_layer(source, target):
    """A full copy as vfs makes one: content, modes and times kept."""
    shutil.copytree(source, target, symlinks=True, copy_function=shutil.copy2)
    return target


def test_full_copies_are_read_as_what_each_changed_against_the_copy_below(tmp_path):
    # vfs keeps a whole filesystem per layer and marks no deletion: layer 1 is a copy of layer 0
    # with one file deleted, one changed and one added; the container's copy deletes a directory.
    base = str(tmp_path)
    image0 = mkdir(base, 'vfs/dir/l0')
    put(image0, 'etc/keep', b'keep')
    put(image0, 'etc/gone', b'gone')
    put(image0, 'etc/conf', b'old')
    put(image0, 'srv/tree/a', b'a')
    image1 = copy_layer(image0, os.path.join(base, 'vfs/dir/l1'))
    os.unlink(os.path.join(image1, 'etc/gone'))
    put(image1, 'etc/conf', b'new')
    put(image1, 'etc/added', b'added')
    upper = copy_layer(image1, os.path.join(base, 'vfs/dir/c'))
    shutil.rmtree(os.path.join(upper, 'srv/tree'))
    tree = ReadOnlyTree(base)
    try:
        layers = [Layer(0, 'image', image0, full_copy=True), Layer(1, 'image', image1, full_copy=True),
                  Layer(2, 'container', upper, full_copy=True)]
        stack = LayerStack(tree, layers)
        view = merged(stack)
        # Each path comes from the oldest copy that holds it unchanged; deletions hide what was below.
        assert view[b'/etc/keep'] == ('file', 0) and view[b'/etc/conf'] == ('file', 1)
        assert view[b'/etc/added'] == ('file', 1)
        assert b'/etc/gone' not in view and b'/srv/tree' not in view and b'/srv/tree/a' not in view
        one = [(entry.path, entry.marker) for entry in stack.walk_layer(layers[1])]
        assert one == [(b'/etc', None), (b'/etc/added', None), (b'/etc/conf', None), (b'/etc/gone', 'whiteout')]
        top = [(entry.path, entry.marker) for entry in stack.walk_layer(layers[2])]
        assert top == [(b'/srv', None), (b'/srv/tree', 'whiteout')]
        versions, visible = stack.versions(b'/etc/gone')
        assert [(entry.layer.index, entry.marker) for entry in versions] == [(1, 'whiteout'), (0, None)]
        assert visible is None
        assert stack.lookup(b'/etc/keep').layer.index == 0
    finally:
        tree.close()
