"""whiteouts and container_changes on the real Docker roots of ../shared/data/docker-roots, from disk only.

These copies were archived by an unprivileged user: their README says overlay whiteout devices are
absent. The tests check what is there, with their own walk of each layer directory (the layer list
itself is checked by the export's offline tests), and against each image layer's tar-split record,
read here with gzip and json: no deletion was recorded in these images, so none can have been lost,
and every container's change set is additions and changed directories.
"""

import base64
import gzip
import hashlib
import json
import os
import stat

import pytest

from tests.support.ansible_run import run_module

ROOTS = ['overlay2.v2', 'aufs.v1', 'vols.v2']
AUFS_META = ('.wh..wh.plnk', '.wh..wh.aufs', '.wh..wh.orph')


def container_ids(root):
    return sorted(name for name in os.listdir(os.path.join(root, 'containers')) if len(name) == 64)


def run(name, root, staging, **options):
    args = {'source': 'disk', 'docker_root': root, 'containers': container_ids(root)}
    if staging is not None:
        args['evidence_dir'] = staging
    args.update(options)
    result = run_module(name, args)
    assert not result.get('failed'), result.get('msg')
    return result


@pytest.fixture(scope='module')
def results(shared_roots, tmp_path_factory):
    found = {}
    for name in ROOTS:
        root = shared_roots[name]
        staging = str(tmp_path_factory.mktemp('offline-deleted') / 'staging')
        found[name] = {'root': root, 'staging': staging,
                       'whiteouts': run('whiteouts', root, staging, recover=True),
                       'changes': run('container_changes', root, staging, hash='all')}
    return found


def walk_layer(layer_dir, aufs):
    """Every entry of a layer as listed, and its markers, found here independently: (entries, markers)."""
    entries, markers = 0, set()
    top = os.fsencode(layer_dir)
    for parent, dirnames, filenames in os.walk(top):
        names = dirnames + filenames
        entries += len(names)
        relative = b'/' + os.path.relpath(parent, top) if parent != top else b''
        if aufs:
            dirnames[:] = [name for name in dirnames if name.decode() not in AUFS_META]
            for name in names:
                if name == b'.wh..wh..opq':
                    markers.add(('opaque', relative or b'/'))
                elif name.startswith(b'.wh.') and name.decode() not in AUFS_META:
                    markers.add(('whiteout', relative + b'/' + name[4:]))
            continue
        for name in filenames:
            st = os.lstat(os.path.join(parent, name))
            if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                markers.add(('whiteout', relative + b'/' + name))
        for name in dirnames:
            path = os.path.join(parent, name)
            if 'trusted.overlay.opaque' in os.listxattr(path, follow_symlinks=False):
                markers.add(('opaque', relative + b'/' + name))
    return entries, markers


def recorded_whiteouts(path):
    """The `.wh.` entries a tar-split file records, read here with gzip and json."""
    found = 0
    with gzip.open(path, 'rt') as handle:
        for line in handle:
            entry = json.loads(line)
            if entry.get('type') != 1:
                continue
            name = base64.b64decode(entry['name_raw']) if entry.get('name_raw') else entry['name'].encode()
            if os.path.basename(name).startswith(b'.wh.'):
                found += 1
    return found


@pytest.mark.parametrize('name', ROOTS)
def test_every_layer_is_read_and_its_markers_are_what_the_directory_holds(results, name):
    got = results[name]
    aufs = name.startswith('aufs')
    devices = sum(1 for parent, _dirs, files in os.walk(got['root'])
                  for item in files if stat.S_ISCHR(os.lstat(os.path.join(parent, item)).st_mode))
    assert devices == 0, 'the README says these copies hold no device files'
    containers = got['whiteouts']['containers']
    assert sorted(item['id'] for item in containers) == container_ids(got['root'])
    for outcome in containers:
        readable = [layer for layer in outcome['layers'] if layer['readable']]
        assert len(outcome['per_layer']) == len(readable) >= 2
        by_index = dict((item['index'], item) for item in outcome['per_layer'])
        for layer in readable:
            entries, markers = walk_layer(layer['dir'], aufs)
            counts = by_index[layer['index']]['counts']
            assert counts['entries_scanned'] == entries, layer['dir']
            assert (counts['whiteouts'], counts['opaque_dirs']) == (
                sum(1 for kind, _path in markers if kind == 'whiteout'),
                sum(1 for kind, _path in markers if kind == 'opaque'))
        assert outcome['counts']['markers'] == 0 and outcome['counts']['markers_missing'] == 0


@pytest.mark.parametrize('name', ROOTS)
def test_image_layers_are_checked_against_their_tar_split_records(results, name):
    for outcome in results[name]['whiteouts']['containers']:
        for item in outcome['per_layer']:
            if item['role'] != 'image':
                assert item['tar_split'] is None
                continue
            assert item['tar_split']['recorded_markers'] == recorded_whiteouts(item['tar_split']['file']) == 0


def lower_dirs(outcome):
    return [layer['dir'] for layer in outcome['layers'] if layer['role'] != 'container' and layer['readable']]


def sha_file(path):
    with open(path, 'rb') as handle:
        return hashlib.sha256(handle.read()).hexdigest()


@pytest.mark.parametrize('name', ROOTS)
def test_each_change_set_is_what_a_walk_of_the_writable_layer_against_the_layers_below_gives(results, name):
    got = results[name]
    aufs = name.startswith('aufs')
    for outcome in got['changes']['containers']:
        upper = [layer['dir'] for layer in outcome['layers'] if layer['role'] == 'container'][0]
        lower = lower_dirs(outcome)
        expected = {}
        top = os.fsencode(upper)
        for parent, dirnames, filenames in os.walk(top):
            if aufs:
                dirnames[:] = [item for item in dirnames if item.decode() not in AUFS_META]
                filenames = [item for item in filenames if not item.startswith(b'.wh.')]
            for item in dirnames + filenames:
                path = b'/' + os.path.relpath(os.path.join(parent, item), top)
                below = any(os.path.lexists(os.fsencode(directory) + path) for directory in lower)
                expected[path.decode()] = 'C' if below else 'A'
        listed = os.path.join(got['staging'], 'containers', outcome['id'], 'changes.jsonl')
        with open(listed) as handle:
            records = [json.loads(line) for line in handle]
        assert dict((record['path'], record['change']) for record in records) == expected, outcome['id']
        for record in records:
            if record['type'] == 'file':
                assert record['now']['sha256'] == sha_file(os.path.join(upper, record['path'].lstrip('/')))


def test_the_running_overlay2_container_added_what_its_archived_mount_shows(results):
    got = results['overlay2.v2']
    running = [item for item in got['changes']['containers'] if item['id'].startswith('8e8b7f23')][0]
    assert [(record['change'], record['path']) for record in running['changes']] == [('A', '/tets')]
    merged = os.path.join(got['root'], 'overlay2', '92fd3b3e7d6101bb701743c9518c45b0d036b898c8a3d7cae84e1a06e6829b53',
                          'merged', 'tets')
    assert running['changes'][0]['now']['sha256'] == sha_file(merged)


def test_nothing_to_recover_is_said_and_no_empty_tar_is_written(results):
    for name in ROOTS:
        artifacts = [item['path'] for item in results[name]['whiteouts']['artifacts']]
        assert not any(path.endswith('whiteouts-recovered.tar') for path in artifacts)
        for outcome in results[name]['whiteouts']['containers']:
            assert outcome['recovered'] == {'tar': None, 'roots': []}
            assert any('nothing hidden to recover' in note for note in outcome['notes'])
