"""A renamed lower directory (overlayfs redirect_dir) and a metadata-only copy-up (metacopy), made by the kernel.

Docker mounts overlay2 without redirect_dir, so its layers never hold a redirect; this test mounts an
overlay itself with ``redirect_dir=on,metacopy=on`` (root, no daemon), lets the kernel write the upper
layer (a rename, a deletion inside the renamed directory, a chmod), unmounts it, and reads the layers
as the collection reads a container's. Ground truth is what the test did and the bytes it wrote.
"""

import hashlib
import os
import shutil
import subprocess
import tempfile

import pytest

from ansible_collections.dfir.docker.plugins.module_utils._changes import ChangeSet
from ansible_collections.dfir.docker.plugins.module_utils._layers import Layer, LayerStack
from ansible_collections.dfir.docker.plugins.module_utils._tree import ReadOnlyTree
from ansible_collections.dfir.docker.plugins.module_utils._whiteouts import Hasher, MarkerAnalysis, scan_markers

DEEP = b'deep data\n'
KEPT = b'kept\n'
META = b'metadata only\n'


def sha(data):
    return hashlib.sha256(data).hexdigest()


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'wb') as handle:
        handle.write(data)


@pytest.fixture(scope='module')
def kernel_layers():
    if os.geteuid() != 0:
        pytest.fail('this test mounts an overlay: run it as root')
    base = tempfile.mkdtemp(prefix='dfir-ovl-', dir=os.environ.get('DFIR_TEST_TMP', '/var/tmp'))
    lower, upper, work, merged = (os.path.join(base, name) for name in ('lower', 'upper', 'work', 'merged'))
    for directory in (upper, work, merged):
        os.makedirs(directory)
    write(os.path.join(lower, 'dir', 'sub', 'deep'), DEEP)
    write(os.path.join(lower, 'dir', 'kept'), KEPT)
    write(os.path.join(lower, 'meta'), META)
    options = 'lowerdir=%s,upperdir=%s,workdir=%s,redirect_dir=on,metacopy=on' % (lower, upper, work)
    mounted = subprocess.run(['mount', '-t', 'overlay', 'overlay', '-o', options, merged],
                             stderr=subprocess.PIPE, check=False)
    if mounted.returncode != 0:
        shutil.rmtree(base, ignore_errors=True)
        pytest.fail('this kernel refused an overlay with redirect_dir=on,metacopy=on: %s' % mounted.stderr.decode())
    try:
        os.rename(os.path.join(merged, 'dir'), os.path.join(merged, 'renamed'))
        os.unlink(os.path.join(merged, 'renamed', 'sub', 'deep'))
        os.chmod(os.path.join(merged, 'meta'), 0o600)
    finally:
        subprocess.run(['umount', merged], check=True)
    redirect = os.getxattr(os.path.join(upper, 'renamed'), 'trusted.overlay.redirect')
    metacopy = 'trusted.overlay.metacopy' in os.listxattr(os.path.join(upper, 'meta'))
    assert redirect and metacopy, 'the kernel did not write redirect_dir and metacopy attributes'
    tree = ReadOnlyTree(base)
    stack = LayerStack(tree, [Layer(0, 'image', lower, diff_id='sha256:lower'), Layer(1, 'container', upper)])
    yield stack
    tree.close()
    shutil.rmtree(base, ignore_errors=True)


def test_the_whiteout_a_rename_leaves_is_a_rename_not_a_deletion(kernel_layers):
    stack = kernel_layers
    scan = scan_markers(stack, stack.layer('container'))
    assert scan.redirects == {b'/dir': b'/renamed'}
    records = list(MarkerAnalysis(stack, scan, Hasher()).records())
    markers = dict((record['path'], record) for record in records if record['record'] == 'marker')
    assert markers['/dir']['effect'] == 'renamed' and markers['/dir']['renamed_to'] == '/renamed'
    assert not any(record['record'] == 'hidden' for record in records), 'a renamed directory hides nothing'


def test_a_deletion_inside_a_renamed_directory_names_the_original_below(kernel_layers):
    stack = kernel_layers
    records = list(MarkerAnalysis(stack, scan_markers(stack, stack.layer('container')), Hasher()).records())
    deep = [record for record in records if record['path'] == '/renamed/sub/deep'][0]
    assert deep['effect'] == 'deleted' and deep['origin'] == '/dir/sub/deep'
    assert deep['hides'][0]['sha256'] == sha(DEEP) and deep['hides'][0]['layer']['diff_id'] == 'sha256:lower'


def test_the_change_set_follows_the_redirect_and_the_metacopy(kernel_layers):
    changes = ChangeSet(kernel_layers, Hasher())
    records = dict((record['path'], record) for record in changes.records())
    renamed = records['/renamed']
    assert renamed['change'] == 'A' and renamed['renamed_from'] == '/dir'
    deep = records['/renamed/sub/deep']
    assert deep['change'] == 'D' and deep['before']['sha256'] == sha(DEEP)
    assert records['/renamed/sub']['change'] == 'C', 'compared with /dir/sub below'
    meta = records['/meta']
    assert meta['change'] == 'C' and meta['detail'] == 'metadata_changed' and meta['differs'] == ['mode']
    assert meta['now']['metacopy'] is True and meta['now']['sha256'] == sha(META), 'the data stayed below'
    assert records['/dir']['change'] == 'D'
