"""Deletion markers and change sets on layer directories built here, as overlayfs and aufs store them.

Every expected value comes from what the test wrote (the bytes, and hashlib over them), never from
the code under test. Whiteout devices and trusted.* attributes need root, as the real drivers do.
"""

import hashlib
import io
import os
import tarfile

import pytest

from ansible_collections.dfir.docker.plugins.module_utils._changes import ChangeSet, missing_from
from ansible_collections.dfir.docker.plugins.module_utils._fs_export import IdNames, Report
from ansible_collections.dfir.docker.plugins.module_utils._layers import (
    WHITEOUT_AUFS,
    WHITEOUT_OVERLAY,
    Layer,
    LayerStack,
)
from ansible_collections.dfir.docker.plugins.module_utils._tree import ReadOnlyTree
from ansible_collections.dfir.docker.plugins.module_utils._whiteouts import (
    Hasher,
    MarkerAnalysis,
    RecoveryExport,
    recovery_prefix,
    scan_markers,
)
from tests.unit.test_layers import opaque, put, whiteout


@pytest.fixture(autouse=True)
def needs_root():
    if os.geteuid() != 0:
        pytest.fail('these tests make whiteout devices and trusted.overlay attributes: run them as root')


def sha(data):
    return hashlib.sha256(data).hexdigest()


def write_file(layer_dir, path, data=b'', mode=0o644, mtime=None):
    full = put(layer_dir, path, data, mode)
    if mtime is not None:
        os.utime(full, ns=(mtime, mtime))
    return full


MTIME = 1700000000 * 10 ** 9
# What the image layers hold, by layer: (path, bytes).
IMAGE0 = [('etc/passwd', b'root:x:0:0:root:/root:/bin/sh\n'), ('etc/conf', b'original\n'), ('etc/same', b'same\n'),
          ('etc/meta', b'meta\n'), ('srv/secret', b'build-time secret\n'), ('srv/tree/a', b'a\n'),
          ('srv/tree/sub/b', b'b\n'), ('srv/redo/old', b'old\n'), ('srv/keep', b'keep\n'),
          ('bin/tool', b'tool v1\n'), ('var/gone/deep/file', b'deep\n')]
IMAGE1 = [('bin/tool', b'tool v2\n'), ('opt/fresh/file', b'fresh\n')]


def build(base, fmt):
    """Two image layers, an init layer and a writable layer, with every kind of marker in play."""
    dirs = [os.path.join(base, 'layers', name) for name in ('image0', 'image1', 'init', 'upper')]
    for directory in dirs:
        os.makedirs(directory)
    image0, image1, init, upper = dirs
    for path, data in IMAGE0:
        write_file(image0, path, data, mtime=MTIME)
    for path, data in IMAGE1:
        write_file(image1, path, data, mtime=MTIME)
    whiteout(image1, 'srv/secret', fmt)          # a build step deleted a secret: it stays in image0
    opaque(image1, 'opt/fresh', fmt)             # an opaque directory with nothing below: a new directory
    put(init, 'etc/hostname', b'init\n')
    # The container: deletes a file and a directory, deletes and recreates a directory, changes
    # content, changes only metadata, copies up unchanged, adds a file, and deletes a file
    # that a newer image layer replaced (only the visible version was seen).
    whiteout(upper, 'srv/tree', fmt)
    whiteout(upper, 'var/gone', fmt)
    whiteout(upper, 'bin/tool', fmt)
    opaque(upper, 'srv/redo', fmt)
    put(upper, 'srv/redo/new', b'new\n')
    write_file(upper, 'etc/conf', b'changed by the attacker\n', mtime=MTIME + 5 * 10 ** 9)
    write_file(upper, 'etc/meta', b'meta\n', mode=0o600, mtime=MTIME)
    write_file(upper, 'etc/same', b'same\n', mtime=MTIME)
    put(upper, 'root/dropped', b'payload\n')
    whiteout(upper, 'never/existed', fmt)        # a marker that hides nothing
    for layer_dir in dirs:   # every directory as old as the files: a directory differs only where made to
        for parent, _dirnames, _filenames in os.walk(layer_dir):
            os.utime(parent, ns=(MTIME, MTIME))
    tree = ReadOnlyTree(base)
    layers = [Layer(0, 'image', image0, diff_id='sha256:00', created_by='ADD rootfs'),
              Layer(1, 'image', image1, diff_id='sha256:11', created_by='RUN rm /srv/secret'),
              Layer(2, 'init', init, mount_id='m-init'), Layer(3, 'container', upper, mount_id='m')]
    return LayerStack(tree, layers, fmt)


@pytest.fixture(params=[WHITEOUT_OVERLAY, WHITEOUT_AUFS])
def stack(request, tmp_path):
    built = build(str(tmp_path), request.param)
    yield built
    built.tree.close()


def analysed(stack, role, hasher=True):
    layer = stack.layer(role)
    analysis = MarkerAnalysis(stack, scan_markers(stack, layer), Hasher() if hasher else None)
    records = list(analysis.records())
    return analysis, records


def markers_by_path(records):
    return dict((record['path'], record) for record in records if record['record'] == 'marker')


def test_the_scan_finds_every_marker_of_the_writable_layer(stack):
    scan = scan_markers(stack, stack.layer('container'))
    found = sorted((marker.path, marker.kind) for marker in scan.markers)
    assert found == [(b'/bin/tool', 'whiteout'), (b'/never/existed', 'whiteout'), (b'/srv/redo', 'opaque'),
                     (b'/srv/tree', 'whiteout'), (b'/var/gone', 'whiteout')]
    assert scan.counts()['whiteouts'] == 4 and scan.counts()['opaque_dirs'] == 1


def test_a_deleted_file_names_the_layer_and_build_step_it_came_from_with_its_hash(stack):
    _analysis, records = analysed(stack, 'container')
    tool = markers_by_path(records)['/bin/tool']
    assert tool['effect'] == 'deleted' and tool['layer']['role'] == 'container'
    # Both image layers hold /bin/tool; the container saw layer 1's, layer 0's was already hidden.
    assert [(item['layer']['index'], item['was_visible'], item['sha256']) for item in tool['hides']] == [
        (1, True, sha(b'tool v2\n')), (0, False, sha(b'tool v1\n'))]
    assert tool['hides'][0]['layer']['diff_id'] == 'sha256:11'
    assert tool['hides'][0]['layer']['created_by'] == 'RUN rm /srv/secret'
    assert tool['hides'][0]['size'] == len(b'tool v2\n') and tool['hides'][0]['mode'] == '0644'


def test_a_deleted_directory_lists_every_hidden_entry_under_it(stack):
    _analysis, records = analysed(stack, 'container')
    hidden = dict((record['path'], record) for record in records if record['record'] == 'hidden')
    under_tree = dict((path, item) for path, item in hidden.items() if item['under'] == '/srv/tree')
    assert sorted(under_tree) == ['/srv/tree/a', '/srv/tree/sub', '/srv/tree/sub/b']
    assert under_tree['/srv/tree/sub/b']['sha256'] == sha(b'b\n')
    assert under_tree['/srv/tree/sub']['type'] == 'directory'
    assert hidden['/var/gone/deep/file']['sha256'] == sha(b'deep\n')
    assert markers_by_path(records)['/srv/tree']['hidden_entries_follow'] is True


def test_an_opaque_directory_over_a_directory_hides_all_of_its_children(stack):
    _analysis, records = analysed(stack, 'container')
    redo = markers_by_path(records)['/srv/redo']
    assert redo['marker'] == 'opaque' and redo['effect'] == 'replaced'
    hidden = [record['path'] for record in records if record['record'] == 'hidden' and record['under'] == '/srv/redo']
    assert hidden == ['/srv/redo/old']


def test_an_opaque_directory_with_nothing_below_is_a_new_directory(stack):
    _analysis, records = analysed(stack, 'image')
    fresh = markers_by_path(records)['/opt/fresh']
    assert fresh['effect'] == 'new_directory' and fresh['hides'] == []
    assert fresh['hidden_entries_follow'] is False


def test_a_build_step_deletion_is_attributed_to_that_image_layer(stack):
    _analysis, records = analysed(stack, 'image')
    secret = markers_by_path(records)['/srv/secret']
    assert secret['effect'] == 'deleted'
    assert secret['layer']['diff_id'] == 'sha256:11' and secret['layer']['created_by'] == 'RUN rm /srv/secret'
    assert secret['hides'][0]['layer']['diff_id'] == 'sha256:00'
    assert secret['hides'][0]['sha256'] == sha(b'build-time secret\n')


def test_a_marker_that_hides_nothing_says_so(stack):
    _analysis, records = analysed(stack, 'container')
    assert markers_by_path(records)['/never/existed']['effect'] == 'nothing_below'


def recovered(stack, role):
    analysis, _records = analysed(stack, role)
    out = io.BytesIO()
    report = Report('test', None)
    export = RecoveryExport(stack, out.write, IdNames(), report)
    prefix = recovery_prefix(analysis.layer)
    for _marker, origin, path in analysis.recoverable:
        export.recover(analysis.below, origin, path, prefix)
    export.finish()
    out.seek(0)
    contents = {}
    with tarfile.open(fileobj=out) as archive:
        for member in archive:
            contents[member.name] = archive.extractfile(member).read() if member.isreg() else ('dir' if member.isdir() else 'other')
    return contents


def test_recovery_gives_the_hidden_originals_back_under_the_marker_layer(stack):
    contents = recovered(stack, 'container')
    expected = {'container-layer/bin/tool': b'tool v2\n', 'container-layer/srv/tree/a': b'a\n',
                'container-layer/srv/tree/sub/b': b'b\n', 'container-layer/srv/redo/old': b'old\n',
                'container-layer/var/gone/deep/file': b'deep\n'}
    files = dict((name, data) for name, data in contents.items() if data not in ('dir', 'other'))
    assert files == expected
    assert contents['container-layer/srv/tree'] == 'dir'
    assert recovered(stack, 'image') == {'image-layer-1/srv/secret': b'build-time secret\n'}


# -- the change set ------------------------------------------------------------------------------


def changes_of(stack, hashing=True):
    change_set = ChangeSet(stack, Hasher() if hashing else None, keep_keys=True)
    return change_set, dict((record['path'], record) for record in change_set.records())


def test_the_change_set_says_added_changed_deleted_and_how(stack):
    change_set, records = changes_of(stack)
    summary = dict((path, (record['change'], record.get('detail'))) for path, record in records.items())
    assert summary == {
        '/bin': ('C', 'copied_up_unchanged'),
        '/bin/tool': ('D', 'whiteout'),
        '/etc': ('C', 'copied_up_unchanged'),
        '/etc/conf': ('C', 'content_changed'),
        '/etc/meta': ('C', 'metadata_changed'),
        '/etc/same': ('C', 'copied_up_unchanged'),
        '/never': ('A', None),
        '/never/existed': ('D', 'whiteout'),
        '/root': ('A', None),
        '/root/dropped': ('A', None),
        '/srv': ('C', 'copied_up_unchanged'),
        '/srv/redo': ('C', 'replaced'),
        '/srv/redo/new': ('A', None),
        '/srv/redo/old': ('D', 'hidden_by_opaque_directory'),
        '/srv/tree': ('D', 'whiteout'),
        '/var': ('C', 'copied_up_unchanged'),
        '/var/gone': ('D', 'whiteout'),
    }
    assert (change_set.counts['A'], change_set.counts['C'], change_set.counts['D']) == (4, 8, 5)


def test_a_changed_file_carries_both_hashes_and_the_layer_it_shadows(stack):
    _change_set, records = changes_of(stack)
    conf = records['/etc/conf']
    assert conf['now']['sha256'] == sha(b'changed by the attacker\n')
    assert conf['before']['sha256'] == sha(b'original\n')
    assert conf['before']['layer']['index'] == 0 and conf['before']['layer']['diff_id'] == 'sha256:00'
    assert conf['differs'] == ['content', 'mtime', 'size']
    meta = records['/etc/meta']
    assert meta['differs'] == ['mode'] and meta['now']['sha256'] == meta['before']['sha256'] == sha(b'meta\n')
    # /etc hides the init layer's /etc, the newest below
    assert records['/etc']['before']['layer']['role'] == 'init'
    tool = records['/bin/tool']
    assert tool['before']['sha256'] == sha(b'tool v2\n') and tool['before']['layer']['index'] == 1


def test_the_daemon_list_is_checked_against_ours_with_replaced_directories_as_either_d_or_c(stack):
    change_set, _records = changes_of(stack)
    daemon = [{'Path': '/srv/redo', 'Kind': 2}, {'Path': '/srv/redo', 'Kind': 0}, {'Path': '/etc/conf', 'Kind': 0},
              {'Path': '/root/dropped', 'Kind': 1}, {'Path': '/nowhere', 'Kind': 1}]
    assert missing_from(change_set.keys, daemon) == [{'change': 'A', 'path': '/nowhere'}]


def test_without_hashing_same_sized_files_are_not_compared(stack):
    _change_set, records = changes_of(stack, hashing=False)
    assert records['/etc/same']['detail'] == 'content_not_compared'
    assert records['/etc/conf']['detail'] == 'content_changed'   # the sizes differ
    assert 'sha256' not in records['/etc/conf']['now']
