"""container_inspect against a real daemon: byte-exact copies, the inspect documents, the image and its layers."""

import hashlib
import json
import os
import re
import stat

import pytest

from tests.integration.conftest import sha256_of

SOURCES = ['api', 'disk']
LOG_NAME = re.compile(r'^[0-9a-f]{64}-json\.log')


def config_files_on_disk(dockerd, container_id):
    """The regular files of containers/<id>/ that describe the container (logs and shm aside), read here."""
    directory = os.path.join(dockerd.data_root, 'containers', container_id)
    found = {}
    for parent, dirnames, filenames in os.walk(directory):
        relative_parent = os.path.relpath(parent, directory)
        if relative_parent == '.':
            dirnames[:] = [name for name in dirnames if name == 'mounts']
        for name in filenames:
            path = os.path.join(parent, name)
            relative = os.path.normpath(os.path.join(relative_parent, name))
            if LOG_NAME.match(name) or not stat.S_ISREG(os.lstat(path).st_mode):
                continue
            with open(path, 'rb') as handle:
                found[relative] = handle.read()
    return found


def mount_set(document):
    return sorted((item['Type'], item.get('Name'), item['Source'], item['Destination'], item['RW'])
                  for item in document['Mounts'])


@pytest.mark.parametrize('source', SOURCES)
def test_every_container_is_collected_without_error(inspected, scenario, source):
    run = inspected[source]
    assert not run.result['failed'], run.result['msg']
    assert run.result['errors'] == []
    for role, truth in scenario.containers.items():
        outcome = run.outcome(truth['id'])
        assert (outcome['failed'], outcome['msg'], outcome['name']) == (False, 'collected', truth['name']), role


@pytest.mark.parametrize('source', SOURCES)
def test_every_record_hashes_to_the_staged_file_and_every_staged_file_is_recorded(inspected, source):
    run = inspected[source]
    recorded = set()
    for record in run.result['artifacts']:
        path = run.path(record['path'])
        assert record['sha256'] == sha256_of(path), record['path']
        assert record['size'] == os.path.getsize(path), record['path']
        assert record['collected_at'].endswith('Z')
        recorded.add(record['path'])
    staged = set()
    for parent, _dirs, names in os.walk(run.evidence_dir):
        staged.update(os.path.relpath(os.path.join(parent, name), run.evidence_dir) for name in names)
    assert staged == recorded   # nothing partial or unrecorded left behind


@pytest.mark.parametrize('source', SOURCES)
def test_config_files_are_byte_exact_copies_of_the_files_on_disk(inspected, scenario, dockerd, source):
    run = inspected[source]
    for role, truth in scenario.containers.items():
        on_disk = config_files_on_disk(dockerd, truth['id'])
        assert 'config.v2.json' in on_disk and 'hostconfig.json' in on_disk
        base = 'containers/%s/config/' % truth['id']
        copied = dict((record['path'][len(base):], run.read(record['path']))
                      for record in run.artifacts(truth['id'], 'container_config'))
        assert copied == on_disk, role
        for name in copied:
            record = run.artifact(base + name)
            assert record['source'] == os.path.join(dockerd.data_root, 'containers', truth['id'], name)
            assert record['source_stat']['size'] == len(on_disk[name])


def mounts_in_order(document):
    """The daemon lists a container's Mounts in map order, which changes from one call to the next."""
    document = dict(document)
    document['Mounts'] = sorted(document.get('Mounts') or [], key=lambda mount: mount.get('Destination'))
    return document


def test_the_api_inspect_document_is_the_daemons(inspected, scenario, sdk):
    run = inspected['api']
    for role, truth in scenario.containers.items():
        record = run.artifact('containers/%s/inspect.json' % truth['id'])
        assert record['source'] == 'api'
        assert mounts_in_order(run.json(record['path'])) == mounts_in_order(sdk.api.inspect_container(truth['id'])), role


def test_the_inspect_document_rebuilt_from_disk_says_what_the_daemon_says(inspected, scenario, sdk):
    run = inspected['disk']
    for role, truth in scenario.containers.items():
        record = run.artifact('containers/%s/inspect.json' % truth['id'])
        assert record['source'] == 'disk' and record['rebuilt_from'].endswith('/config.v2.json')
        rebuilt, live = run.json(record['path']), sdk.api.inspect_container(truth['id'])
        for key in ('Id', 'Created', 'Path', 'Args', 'Image', 'Name', 'LogPath', 'HostnamePath', 'HostsPath',
                    'ResolvConfPath', 'RestartCount', 'Driver', 'Config', 'HostConfig'):
            assert rebuilt[key] == live[key], (role, key)
        for key in ('Status', 'Running', 'Paused', 'Restarting', 'OOMKilled', 'Dead', 'Pid', 'ExitCode', 'Error',
                    'StartedAt', 'FinishedAt'):
            assert rebuilt['State'][key] == live['State'][key], (role, key)
        assert rebuilt['GraphDriver'] == live['GraphDriver'], role
        assert mount_set(rebuilt) == mount_set(live), role


@pytest.mark.parametrize('source', SOURCES)
def test_the_image_config_is_copied_and_hashes_to_the_image_id(inspected, scenario, dockerd, source):
    run = inspected[source]
    image_hex = scenario.image_id.split(':')[1]
    with open(os.path.join(dockerd.data_root, 'image', 'overlay2', 'imagedb', 'content', 'sha256', image_hex), 'rb') as handle:
        on_disk = handle.read()
    for truth in scenario.containers.values():
        record = run.artifact('containers/%s/image/config.json' % truth['id'])
        assert run.read(record['path']) == on_disk
        assert hashlib.sha256(on_disk).hexdigest() == image_hex == record['sha256']
        assert record['matches_image_id'] is True


def test_live_the_image_inspect_and_history_are_the_daemons(inspected, scenario, sdk):
    run = inspected['api']
    truth = scenario['running']
    assert run.json('containers/%s/image/inspect.json' % truth['id']) == sdk.api.inspect_image(scenario.image_id)
    assert run.json('containers/%s/image/history.json' % truth['id']) == sdk.api.history(scenario.image_id)


def image_config(dockerd, image_id):
    with open(os.path.join(dockerd.data_root, 'image', 'overlay2', 'imagedb', 'content', 'sha256',
                           image_id.split(':')[1])) as handle:
        return json.load(handle)


@pytest.mark.parametrize('source', SOURCES)
def test_the_layer_chain_is_the_images_layers_and_the_containers_own(inspected, scenario, sdk, dockerd, source):
    run = inspected[source]
    layers_sdk = sdk.api.inspect_image(scenario.image_id)['RootFS']['Layers']
    assert len(layers_sdk) == 4   # the base and three build steps that wrote files
    made_layers = [step for step in image_config(dockerd, scenario.image_id)['history'] if not step.get('empty_layer')]
    layerdb = os.path.join(dockerd.data_root, 'image', 'overlay2', 'layerdb')
    for role, truth in scenario.containers.items():
        chain = run.json('containers/%s/layers.json' % truth['id'])
        assert chain['errors'] == []
        assert [layer['diff_id'] for layer in chain['layers']] == layers_sdk
        for layer, step in zip(chain['layers'], made_layers):
            directory = os.path.join(layerdb, 'sha256', layer['chain_id'].split(':')[1])
            with open(os.path.join(directory, 'diff')) as handle:
                assert handle.read().strip() == layer['diff_id']
            with open(os.path.join(directory, 'cache-id')) as handle:
                assert handle.read().strip() == layer['cache_id']
            assert layer['dir'] == os.path.join(dockerd.data_root, 'overlay2', layer['cache_id'], 'diff')
            assert layer['dir_exists'] is True
            assert layer['created_by'] == step.get('created_by')
        graph = sdk.api.inspect_container(truth['id'])['GraphDriver']['Data']
        rw_layer = chain['rw_layer']
        assert rw_layer['upper_dir'] == graph['UpperDir'], role
        assert rw_layer['work_dir'] == graph['WorkDir'] and rw_layer['merged_dir'] == graph['MergedDir']
        assert ':'.join(item['dir'] for item in rw_layer['lower']) == graph['LowerDir']
        with open(os.path.join(layerdb, 'mounts', truth['id'], 'mount-id')) as handle:
            assert rw_layer['mount_id'] == handle.read().strip()
        assert rw_layer['parent'] == chain['layers'][-1]['chain_id']
