"""engine_facts against a real daemon: through the API and from its disk, checked against the Docker SDK."""

import json
import os

import pytest

from tests.support.ansible_run import run_module
from tests.support.scenario import IMAGE_LABELS, IMAGE_TAG, LABELS, STOPPED_EXIT_CODE, VOLUME


def zero_is_none(value):
    return None if not value or value.startswith('0001-01-01') else value


def expected_from_inspect(inspect, dockerd):
    """What engine_facts should say of a container, from an inspect document and the layer database."""
    container_id = inspect['Id']
    state = inspect['State']
    upper_dir = inspect['GraphDriver']['Data']['UpperDir']
    with open(os.path.join(dockerd.data_root, 'image', 'overlay2', 'layerdb', 'mounts', container_id, 'mount-id')) as handle:
        mount_id = handle.read().strip()
    return {
        'id': inspect['Id'],
        'name': inspect['Name'].lstrip('/'),
        'image': inspect['Config']['Image'],
        'image_id': inspect['Image'],
        'state': state['Status'],
        'running': state['Running'],
        'paused': state['Paused'],
        'exit_code': state['ExitCode'],
        'pid': state['Pid'] if state['Running'] else None,
        'created': inspect['Created'],
        'started_at': zero_is_none(state['StartedAt']),
        'finished_at': zero_is_none(state['FinishedAt']),
        'storage_driver': inspect['GraphDriver']['Name'],
        'mount_id': mount_id,
        'upper_dir': upper_dir,
        'log_path': inspect['LogPath'] or None,
        'log_driver': inspect['HostConfig']['LogConfig']['Type'],
        'labels': inspect['Config']['Labels'] or {},
        'tty': inspect['Config']['Tty'],
    }


@pytest.mark.parametrize('source', ['api', 'disk'])
def test_every_container_of_the_daemon_is_listed(facts, sdk, source):
    listed = sorted(item['id'] for item in facts[source].result['containers'])
    assert listed == sorted(container.id for container in sdk.containers.list(all=True))
    assert not facts[source].result['failed'], facts[source].result['msg']
    assert facts[source].result['source'] == source
    assert all(item['source'] == source for item in facts[source].result['containers'])


@pytest.mark.parametrize('source', ['api', 'disk'])
def test_each_container_is_what_the_sdk_and_docker_inspect_say(facts, sdk, dockerd, scenario, source):
    by_id = dict((item['id'], item) for item in facts[source].result['containers'])
    cli = dict((item['Id'], item) for item in json.loads(dockerd.docker('inspect', *scenario.ids())))
    for role, truth in scenario.containers.items():
        expected = expected_from_inspect(sdk.api.inspect_container(truth['id']), dockerd)
        assert expected == expected_from_inspect(cli[truth['id']], dockerd), role
        got = dict((key, by_id[truth['id']].get(key)) for key in expected)
        assert got == expected, role


def test_the_ground_truth_of_the_scenario(facts, scenario):
    """The states, exit code, labels and drivers the scenario made, from both sources."""
    for source in ('api', 'disk'):
        by_id = dict((item['id'], item) for item in facts[source].result['containers'])
        for role, truth in scenario.containers.items():
            item = by_id[truth['id']]
            assert item['name'] == truth['name']
            assert item['state'] == truth['state'], (source, role)
            assert item['running'] == (truth['state'] in ('running', 'paused'))
            assert item['image'] == IMAGE_TAG and item['image_id'] == scenario.image_id
            if 'exit_code' in truth:
                assert item['exit_code'] == truth['exit_code']
            assert item['log_driver'] == truth['log_driver']
            assert item['tty'] == bool(truth.get('tty'))
            assert item['upper_dir'].endswith('/overlay2/%s/diff' % item['mount_id'])
            if item['running']:
                assert isinstance(item['pid'], int) and os.path.isdir('/proc/%d' % item['pid'])
            else:
                assert item['pid'] is None
        assert by_id[scenario['stopped']['id']]['exit_code'] == STOPPED_EXIT_CODE
        # the container's own labels on top of those of its image
        assert by_id[scenario['running']['id']]['labels'] == dict(IMAGE_LABELS, **LABELS)
        assert by_id[scenario['stopped']['id']]['labels'] == IMAGE_LABELS
        assert by_id[scenario['created']['id']]['started_at'] is None


def test_the_volume_and_the_tmpfs_are_reported_from_both_sources(facts, scenario, sdk):
    inspect = sdk.api.inspect_container(scenario['volume']['id'])
    volume_mount = [mount for mount in inspect['Mounts'] if mount['Type'] == 'volume'][0]
    for source in ('api', 'disk'):
        item = [entry for entry in facts[source].result['containers'] if entry['id'] == scenario['volume']['id']][0]
        by_destination = dict((mount['destination'], mount) for mount in item['mounts'])
        assert by_destination['/data']['type'] == 'volume'
        assert by_destination['/data']['name'] == VOLUME
        assert by_destination['/data']['source'] == volume_mount['Source']
        assert by_destination['/data']['rw'] is True
        assert by_destination['/scratch']['type'] == 'tmpfs'
        assert by_destination['/scratch']['options'] == inspect['HostConfig']['Tmpfs']['/scratch']
        assert by_destination['/cache']['type'] == 'tmpfs'
        # each mount once, whether --tmpfs or --mount type=tmpfs made it
        assert sorted(mount['destination'] for mount in item['mounts']) == ['/cache', '/data', '/scratch'], source


def test_disk_and_api_agree_on_every_container_and_report_no_disagreement(facts):
    assert facts['api'].result['disagreements'] == []
    api = dict((item['id'], item) for item in facts['api'].result['containers'])

    def comparable(entry):
        entry = dict(entry)
        entry.pop('source')
        # the daemon lists mounts in its own order, the files by destination: the same set either way
        entry['mounts'] = sorted(entry['mounts'], key=lambda mount: mount['destination'])
        return entry

    for disk in facts['disk'].result['containers']:
        assert comparable(disk) == comparable(api[disk['id']]), disk['name']


def test_the_engine_is_what_the_daemon_says(facts, sdk, dockerd):
    engine = facts['api'].result['engine']
    version, info = sdk.version(), sdk.info()
    assert engine['version'] == version['Version']
    assert engine['api_version'] == version['ApiVersion']
    assert engine['storage_driver'] == info['Driver'] == 'overlay2'
    assert engine['docker_root'] == info['DockerRootDir'] == dockerd.data_root
    assert engine['logging_driver'] == info['LoggingDriver']
    assert engine['security_options'] == info['SecurityOptions']
    assert engine['userns_remap'] is False and engine['rootless'] is False
    assert engine['containers_total'] == info['Containers']
    disk = facts['disk'].result['engine']
    assert (disk['source'], disk['storage_driver'], disk['docker_root'], disk['layout']) == (
        'disk', 'overlay2', dockerd.data_root, 'v2')
    assert disk['version'] is None   # the disk does not know it


def test_a_name_changed_on_disk_is_a_disagreement_with_the_daemon(dockerd, scenario):
    """The daemon keeps its view in memory: editing a stopped container's config makes them differ."""
    container_id = scenario['stopped']['id']
    path = os.path.join(dockerd.data_root, 'containers', container_id, 'config.v2.json')
    with open(path, 'rb') as handle:
        original = handle.read()
    config = json.loads(original.decode())
    config['Name'] = '/renamed-behind-the-daemons-back'
    try:
        with open(path, 'w') as handle:
            json.dump(config, handle)
        result = run_module('engine_facts', {'docker_host': dockerd.host, 'source': 'api'})
    finally:
        with open(path, 'wb') as handle:
            handle.write(original)
    assert not result['failed'], result['msg']
    assert result['disagreements'] == [{'container_id': container_id, 'field': 'name',
                                        'api': scenario['stopped']['name'], 'disk': 'renamed-behind-the-daemons-back'}]


def test_a_config_file_the_daemon_could_not_load_again_is_a_disagreement(dockerd, scenario):
    from tests.integration.test_bad_input import corrupt_config
    container_id = scenario['stopped']['id']
    with corrupt_config(dockerd, container_id) as path:
        result = run_module('engine_facts', {'docker_host': dockerd.host, 'source': 'api'})
    assert not result['failed'], result['msg']
    (disagreement,) = result['disagreements']
    assert (disagreement['container_id'], disagreement['field'], disagreement['api']) == (
        container_id, 'config_file', 'loaded by the daemon')
    assert path in disagreement['disk'] and 'is not valid JSON' in disagreement['disk']


def test_from_disk_the_daemon_is_never_asked(dockerd, tmp_path):
    """source: disk works with the daemon's socket gone (here: a docker_host that does not exist)."""
    result = run_module('engine_facts', {'docker_host': 'unix://%s/none.sock' % tmp_path, 'source': 'disk',
                                         'docker_root': dockerd.data_root})
    assert not result['failed'], result['msg']
    assert result['engine']['source'] == 'disk'


def test_auto_falls_back_to_the_disk_and_warns(dockerd, tmp_path, scenario):
    result = run_module('engine_facts', {'docker_host': 'unix://%s/none.sock' % tmp_path, 'docker_root': dockerd.data_root})
    assert not result['failed'], result['msg']
    assert result['source'] == 'disk'
    assert any('no Docker daemon answered' in warning and 'none.sock' in warning for warning in result['warnings'])
    assert set(scenario.ids()) <= set(item['id'] for item in result['containers'])


def test_the_report_is_written_as_an_artifact_when_asked(dockerd, scenario, tmp_path):
    staging = str(tmp_path / 'staging')
    result = run_module('engine_facts', {'docker_host': dockerd.host, 'evidence_dir': staging})
    assert not result['failed'], result['msg']
    (record,) = [item for item in result['artifacts'] if item['path'] == 'engine.json']
    with open(os.path.join(staging, 'engine.json'), 'rb') as handle:
        data = handle.read()
    import hashlib
    assert record['sha256'] == hashlib.sha256(data).hexdigest() and record['size'] == len(data)
    report = json.loads(data.decode())
    assert sorted(item['id'] for item in report['containers']) == sorted(item['id'] for item in result['containers'])


def test_a_docker_root_that_is_not_the_answering_daemons_is_read_from_disk(dockerd, shared_roots):
    """A responder gives the root of a mounted image while a daemon runs here: its containers are the
    image's, not the running daemon's, and source api refuses the mix."""
    image_root = shared_roots['overlay2.v2']
    result = run_module('engine_facts', {'docker_host': dockerd.host, 'docker_root': image_root})
    assert not result['failed'], result['msg']
    assert result['source'] == 'disk' and result['engine']['docker_root'] == image_root
    on_disk = sorted(name for name in os.listdir(os.path.join(image_root, 'containers')))
    assert sorted(item['id'] for item in result['containers']) == on_disk
    assert any('is not the Docker root of the daemon that answered' in warning for warning in result['warnings']), \
        result['warnings']
    refused = run_module('engine_facts', {'docker_host': dockerd.host, 'docker_root': image_root, 'source': 'api'})
    assert refused['failed'] and 'leave docker_root unset, or use source disk' in refused['msg'], refused['msg']
    own = run_module('engine_facts', {'docker_host': dockerd.host, 'docker_root': dockerd.data_root, 'source': 'api'})
    assert not own['failed'] and own['source'] == 'api', own.get('msg')
