"""process_map on bad input: unreadable subuid, missing or hostile /etc/passwd, a foreign Docker root."""

import os
import uuid

import pytest

from tests.support.ansible_run import run_module
from tests.support.images import BASE_TAG, build


@pytest.fixture()
def container(dockerd):
    """Start containers from Dockerfiles; all removed afterwards."""
    started = []

    def start(dockerfile, command=('sleep', '1d')):
        tag = 'dfir-test/pm-%s:1' % uuid.uuid4().hex[:8]
        build(dockerd, tag, dockerfile)
        name = 'pm-bad-%s' % uuid.uuid4().hex[:8]
        dockerd.docker('run', '-d', '--name', name, '--network', 'none', tag, *command)
        started.append((name, tag))
        return name

    yield start
    for name, tag in started:
        dockerd.docker('rm', '-f', name, check=False)
        dockerd.docker('rmi', tag, check=False)


def only_container(result):
    assert not result.get('failed'), result
    (record,) = result['containers']
    return record


def test_an_unreadable_subuid_file_is_reported_and_ids_are_still_mapped(dockerd, container, tmp_path):
    name = container('FROM %s\n' % BASE_TAG)
    result = run_module('process_map', {'docker_host': dockerd.host, 'containers': [name],
                                        'subuid_file': str(tmp_path), 'subgid_file': str(tmp_path / 'missing')})
    record = only_container(result)
    subuid, subgid = result['userns']['subuid_file'], result['userns']['subgid_file']
    assert not subuid['readable'] and 'is not a regular file' in subuid['error']
    assert not subgid['readable'] and 'No such file or directory' in subgid['error']
    assert any('subuid ranges unknown' in note for note in result['userns']['notes'])
    (process,) = record['processes']
    assert process['container_uids']['real'] == 0 and process['container_user_names']['real'] == 'root'


def test_a_container_without_etc_passwd_has_ids_but_no_names(dockerd, container):
    name = container('FROM %s\nRUN rm /etc/passwd /etc/group\n' % BASE_TAG)
    record = only_container(run_module('process_map', {'docker_host': dockerd.host, 'containers': [name]}))
    (process,) = record['processes']
    assert process['container_uids']['real'] == 0
    assert process['container_user_names'] is None and process['container_group_names'] is None
    assert not record['passwd_read'] and not record['group_read']
    assert any('/etc/passwd of the container not read (it has none)' in note for note in record['notes'])


def test_an_etc_passwd_symlink_to_etc_shadow_is_read_inside_the_container_not_on_the_host(dockerd, container):
    # Were the absolute link followed on the host, uid 0 would be named from the host's /etc/shadow ("root").
    name = container('FROM %s\nRUN echo "intruder:x:0:0::/:/bin/sh" > /etc/shadow && '
                     'echo "wheel-inside:x:0:" > /etc/container-group && '
                     'rm /etc/passwd /etc/group && ln -s /etc/shadow /etc/passwd && '
                     'ln -s ../../../../etc/container-group /etc/group\n' % BASE_TAG)
    record = only_container(run_module('process_map', {'docker_host': dockerd.host, 'containers': [name]}))
    (process,) = record['processes']
    assert process['container_user_names']['real'] == 'intruder'
    assert process['container_group_names']['real'] == 'wheel-inside'


def test_a_foreign_docker_root_read_from_disk_yields_no_processes(shared_roots):
    # festive_perlman's config says it runs as PID 71799 on the host it came from, not this one.
    result = run_module('process_map', {'source': 'disk', 'docker_root': shared_roots['overlay2.v2'],
                                        'containers': ['festive_perlman']})
    record = only_container(result)
    assert record['state'] == 'running' and not record['running'] and record['processes'] == []
    assert any('71799' in note for note in record['notes'])


def test_an_unknown_container_is_an_error_the_others_are_still_mapped(dockerd, container):
    name = container('FROM %s\n' % BASE_TAG)
    result = run_module('process_map', {'docker_host': dockerd.host, 'containers': ['no-such-container', name]})
    assert result['failed'] and "no container has the id, id prefix or name 'no-such-container'" in result['msg']
    assert result['containers'][1]['processes'][0]['container_pid'] == 1
    assert os.path.isdir('/proc/%d' % result['containers'][1]['host_pid'])


def test_a_process_of_another_engines_container_is_not_placed_in_this_one(dockerd, dockerd_remapped):
    name = 'pm-other-%s' % uuid.uuid4().hex[:8]
    dockerd_remapped.docker('run', '-d', '--name', name, '--network', 'none', BASE_TAG, 'sleep', '1d')
    try:
        document = dockerd_remapped.inspect(name)
        result = run_module('process_map', {'docker_host': dockerd.host, 'containers': [],
                                            'host_pids': [document['State']['Pid']]})
    finally:
        dockerd_remapped.docker('rm', '-f', name, check=False)
    assert not result.get('failed'), result
    (answer,) = result['lookups']
    assert answer['belongs_to'] == 'host' and answer['container_id'] is None
    assert answer['unknown_container_ids'] == [document['Id']]
    assert 'unknown to this engine' in answer['msg']
