"""The real Docker roots of ../shared/data/docker-roots, read with source: disk.

Every expected value is read here from the files themselves (json.load of the
config files, the layer database, graph/*/json) or taken from the roots' README,
never from the modules' output.
"""

import glob
import hashlib
import json
import os
import re
import shutil

import pytest

from tests.support.ansible_run import run_module

ROOTS = ['overlay2.v2', 'aufs.v1', 'vols.v2']
ID = re.compile(r'^[0-9a-f]{64}$')

# From the README of the shared roots.
README = {
    'overlay2.v2': {'count': 5, 'running': {'8e8b7f23eb7cbd4dfe7e91646ddd0e0f524218e25d50113559f078dfb2690206': {
        'name': 'festive_perlman', 'image': 'busybox',
        'image_id': 'sha256:8ac48589692a53a9b8c2d1ceaa6b402665aa7fe667ba51ccc03002300856d8c7',
        'mount_id': '92fd3b3e7d6101bb701743c9518c45b0d036b898c8a3d7cae84e1a06e6829b53'}}},
    'aufs.v1': {'count': 3, 'running': {'de44dd97cfd1c8d1c1aad7f75a435603991a7a39fa4f6b20a69bf4458809209c': {
        'name': 'angry_rosalind', 'image': 'busybox'}}},
    'vols.v2': {'count': 4, 'running': {}},
}


def config_of(root, container_id):
    for name in ('config.v2.json', 'config.json'):
        path = os.path.join(root, 'containers', container_id, name)
        if os.path.exists(path):
            with open(path) as handle:
                return json.load(handle)
    raise AssertionError('no config for %s' % container_id)


def read(path):
    with open(path) as handle:
        return handle.read().strip()


def truth_of(root):
    """Each container of a root as its own files describe it."""
    truth = {}
    for container_id in sorted(name for name in os.listdir(os.path.join(root, 'containers')) if ID.match(name)):
        config = config_of(root, container_id)
        entry = {
            'name': config['Name'].lstrip('/'),
            'image': config['Config']['Image'],
            'image_id': config['Image'],
            'running': config['State']['Running'],
            'driver': config['Driver'],
        }
        mounts_file = os.path.join(root, 'image', config['Driver'], 'layerdb', 'mounts', container_id, 'mount-id')
        entry['mount_id'] = read(mounts_file) if os.path.exists(mounts_file) else container_id   # v1: the container id
        truth[container_id] = entry
    return truth


@pytest.fixture(scope='module')
def facts(shared_roots):
    return dict((name, run_module('engine_facts', {'source': 'disk', 'docker_root': shared_roots[name]}))
                for name in ROOTS)


@pytest.fixture(scope='module')
def inspected(shared_roots, tmp_path_factory):
    runs = {}
    for name in ROOTS:
        staging = str(tmp_path_factory.mktemp(name) / 'staging')
        runs[name] = (run_module('container_inspect', {'source': 'disk', 'docker_root': shared_roots[name],
                                                       'evidence_dir': staging}), staging)
    return runs


@pytest.mark.parametrize('name', ROOTS)
def test_inventory_matches_the_config_files(facts, shared_roots, name):
    result = facts[name]
    assert not result['failed'], result['msg']
    truth = truth_of(shared_roots[name])
    assert len(truth) == README[name]['count']
    got = dict((item['id'], item) for item in result['containers'])
    assert sorted(got) == sorted(truth)
    for container_id, expected in truth.items():
        item = got[container_id]
        assert (item['name'], item['image'], item['image_id'], item['running'], item['storage_driver'], item['mount_id']) == (
            expected['name'], expected['image'], expected['image_id'], expected['running'], expected['driver'],
            expected['mount_id']), container_id


@pytest.mark.parametrize('name', ROOTS)
def test_inventory_has_what_the_readme_says(facts, name):
    got = dict((item['id'], item) for item in facts[name]['containers'])
    assert len(got) == README[name]['count']
    running = dict((container_id, item) for container_id, item in got.items() if item['running'])
    assert sorted(running) == sorted(README[name]['running'])
    for container_id, expected in README[name]['running'].items():
        for key, value in expected.items():
            assert running[container_id][key] == value, key
        assert running[container_id]['state'] == 'running'


def test_the_engine_of_each_root(facts, shared_roots):
    expected = {'overlay2.v2': ('overlay2', 'v2'), 'aufs.v1': ('aufs', 'v1'), 'vols.v2': ('overlay2', 'v2')}
    for name, (driver, layout) in expected.items():
        engine = facts[name]['engine']
        assert (engine['source'], engine['storage_driver'], engine['layout'], engine['docker_root']) == (
            'disk', driver, layout, shared_roots[name])


def test_volumes_and_bind_mounts_of_vols_v2(facts, shared_roots):
    root = shared_roots['vols.v2']
    got = dict((item['id'], item) for item in facts['vols.v2']['containers'])
    for container_id, item in got.items():
        points = config_of(root, container_id)['MountPoints']
        expected = sorted((point['Type'], point['Name'] or None, point['Source'] or None, destination, point['RW'])
                          for destination, point in points.items())
        assert sorted((mount['type'], mount['name'], mount['source'], mount['destination'], mount['rw'])
                      for mount in item['mounts']) == expected, container_id
    # the README: 8b6e90cc742b mounts a named volume at /var/jenkins_home and a bind mount at /opt
    jenkins = [item for container_id, item in got.items() if container_id.startswith('8b6e90cc742b')][0]
    kinds = dict((mount['destination'], mount['type']) for mount in jenkins['mounts'])
    assert kinds == {'/var/jenkins_home': 'volume', '/opt': 'bind'}
    (volume,) = [item for container_id, item in got.items() if container_id.startswith('712909b5ab80')][0]['mounts']
    assert (volume['type'], volume['destination']) == ('volume', '/opt/vols/volume')
    assert os.path.isdir(os.path.join(root, 'volumes', volume['name']))


@pytest.mark.parametrize('name', ROOTS)
def test_every_container_is_inspected_with_byte_exact_config_files(inspected, shared_roots, name):
    result, staging = inspected[name]
    assert not result['failed'], result['msg']
    root = shared_roots[name]
    for container_id in truth_of(root):
        directory = os.path.join(root, 'containers', container_id)
        expected = sorted(entry for entry in os.listdir(directory)
                          if os.path.isfile(os.path.join(directory, entry)) and not entry.endswith('.log'))
        copied_dir = os.path.join(staging, 'containers', container_id, 'config')
        assert sorted(os.listdir(copied_dir)) == expected
        for entry in expected:
            with open(os.path.join(directory, entry), 'rb') as original, open(os.path.join(copied_dir, entry), 'rb') as copy:
                assert original.read() == copy.read()
    for record in result['artifacts']:
        with open(os.path.join(staging, record['path']), 'rb') as handle:
            data = handle.read()
        assert (record['sha256'], record['size']) == (hashlib.sha256(data).hexdigest(), len(data))


@pytest.mark.parametrize('name', ['overlay2.v2', 'vols.v2'])
def test_the_image_config_of_a_v2_root_hashes_to_the_image_id(inspected, shared_roots, name):
    result, staging = inspected[name]
    for container_id, truth in truth_of(shared_roots[name]).items():
        with open(os.path.join(staging, 'containers', container_id, 'image', 'config.json'), 'rb') as handle:
            assert 'sha256:' + hashlib.sha256(handle.read()).hexdigest() == truth['image_id']


@pytest.mark.parametrize('name', ['overlay2.v2', 'vols.v2'])
def test_the_layer_chain_of_a_v2_root_is_the_layer_database(inspected, shared_roots, name):
    result, staging = inspected[name]
    root = shared_roots[name]
    for container_id, truth in truth_of(root).items():
        with open(os.path.join(root, 'image', 'overlay2', 'imagedb', 'content', 'sha256', truth['image_id'][7:])) as handle:
            diff_ids = json.load(handle)['rootfs']['diff_ids']
        with open(os.path.join(staging, 'containers', container_id, 'layers.json')) as handle:
            chain = json.load(handle)
        assert [layer['diff_id'] for layer in chain['layers']] == diff_ids
        for layer in chain['layers']:
            layer_dir = os.path.join(root, 'image', 'overlay2', 'layerdb', 'sha256', layer['chain_id'][7:])
            assert read(os.path.join(layer_dir, 'diff')) == layer['diff_id']
            assert read(os.path.join(layer_dir, 'cache-id')) == layer['cache_id']
        assert chain['rw_layer']['mount_id'] == truth['mount_id']
        assert chain['rw_layer']['upper_dir'] == os.path.join(root, 'overlay2', truth['mount_id'], 'diff')


def test_the_aufs_v1_layer_chain_follows_graph_parents_and_aufs_layers(inspected, shared_roots):
    result, staging = inspected['aufs.v1']
    root = shared_roots['aufs.v1']
    for container_id, truth in truth_of(root).items():
        # the image's ancestry, oldest first, from graph/<id>/json "parent" links
        ancestry, current = [], truth['image_id']
        while current:
            ancestry.insert(0, current)
            with open(os.path.join(root, 'graph', current, 'json')) as handle:
                current = json.load(handle).get('parent')
        with open(os.path.join(staging, 'containers', container_id, 'layers.json')) as handle:
            chain = json.load(handle)
        assert [layer['cache_id'] for layer in chain['layers']] == ancestry
        assert all(layer['dir'] == os.path.join(root, 'aufs', 'diff', layer['cache_id']) and layer['dir_exists']
                   for layer in chain['layers'])
        # aufs/layers/<container id>: the layers under the container, newest first (its init layer, then the image's)
        with open(os.path.join(root, 'aufs', 'layers', container_id)) as handle:
            recorded = [line for line in handle.read().split('\n') if line]
        assert recorded == [container_id + '-init'] + list(reversed(ancestry))
        rw_layer = chain['rw_layer']
        assert [item['id'] for item in rw_layer['lower']] == recorded
        assert rw_layer['upper_dir'] == os.path.join(root, 'aufs', 'diff', container_id) and rw_layer['upper_dir_exists']
        # each graph json of the chain is copied byte for byte
        for layer_id in ancestry:
            with open(os.path.join(root, 'graph', layer_id, 'json'), 'rb') as original, \
                    open(os.path.join(staging, 'containers', container_id, 'image', 'graph', layer_id + '.json'), 'rb') as copy:
                assert original.read() == copy.read()


def test_logs_of_the_shared_roots_are_copied_byte_exact(shared_roots, tmp_path):
    for name in ROOTS:
        staging = str(tmp_path / name)
        result = run_module('container_logs', {'source': 'disk', 'docker_root': shared_roots[name], 'evidence_dir': staging})
        assert not result['failed'], result['msg']
        expected = sorted(glob.glob(os.path.join(shared_roots[name], 'containers', '*', '*-json.log*')))
        assert sorted(record['source'] for record in result['artifacts']) == expected
        for record in result['artifacts']:
            with open(record['source'], 'rb') as original, open(os.path.join(staging, record['path']), 'rb') as copy:
                assert original.read() == copy.read()


def test_a_log_path_in_the_config_outside_the_root_is_not_read_offline(shared_roots, tmp_path):
    """config.v2.json says where the log is; Docker only ever writes it in the container's directory. A
    LogPath rewritten to point elsewhere must not make a disk read collect a file of the examiner's machine
    as the container's log, nor miss the log that is in the container's directory."""
    root = str(tmp_path / 'docker')
    shutil.copytree(shared_roots['overlay2.v2'], root, symlinks=True)
    container_id = next(iter(README['overlay2.v2']['running']))
    directory = os.path.join(root, 'containers', container_id)
    with open(os.path.join(directory, '%s-json.log' % container_id), 'wb') as handle:
        handle.write(b'{"log":"from the evidence\\n","stream":"stdout","time":"2018-05-16T10:00:00Z"}\n')
    decoy_dir = tmp_path / 'examiner'
    decoy_dir.mkdir()
    decoy = str(decoy_dir / ('%s-json.log' % container_id))
    with open(decoy, 'wb') as handle:
        handle.write(b'{"log":"from the examiner\'s own machine\\n"}\n')
    config_path = os.path.join(directory, 'config.v2.json')
    with open(config_path) as handle:
        config = json.load(handle)
    config['LogPath'] = decoy
    with open(config_path, 'w') as handle:
        json.dump(config, handle)

    staging = str(tmp_path / 'staging')
    result = run_module('container_logs', {'source': 'disk', 'docker_root': root, 'containers': [container_id],
                                           'evidence_dir': staging})
    assert not result['failed'], result['msg']
    assert [record['source'] for record in result['artifacts']] == [
        os.path.join(directory, '%s-json.log' % container_id)]
    with open(os.path.join(staging, result['artifacts'][0]['path']), 'rb') as handle:
        assert b'from the evidence' in handle.read()
    (outcome,) = result['containers']
    assert any(decoy in note and 'not read' in note for note in outcome['notes']), outcome['notes']
