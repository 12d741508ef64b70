"""case_open's controller-side check of the host-side variables, before any host is touched."""

import pytest

from ansible_collections.dfir.docker.plugins.module_utils._engine_api import parse_docker_host
from ansible_collections.dfir.docker.plugins.plugin_utils._case import host_parameter_problems

GOOD = {'evidence_dir': '/var/tmp/dfir-docker', 'docker_root': '', 'containers': [], 'source': 'auto',
        'docker_host': 'unix:///var/run/docker.sock'}


def problems(**changes):
    return host_parameter_problems(dict(GOOD, **changes), parse_docker_host)


def test_the_defaults_and_absolute_paths_pass():
    assert problems() == []
    assert problems(evidence_dir='/dev/shm/x', docker_root='/mnt/evidence/var/lib/docker', containers=['web', 'ab12']) == []
    assert problems(evidence_dir='~/staging') == []


def test_a_relative_evidence_dir_is_named_with_what_to_give():
    assert problems(evidence_dir='staging') == [
        "dfir_evidence_dir 'staging' is not an absolute path: give the staging directory on the hosts from /, "
        "for example /var/tmp/dfir-docker"]


@pytest.mark.parametrize('value', ['/', '//', '/./'])
def test_the_root_itself_is_no_staging_dir(value):
    assert problems(evidence_dir=value) == ['dfir_evidence_dir must be a directory below /, not /']


def test_a_relative_docker_root_is_named():
    (problem,) = problems(docker_root='var/lib/docker')
    assert problem.startswith("dfir_docker_root 'var/lib/docker' is not an absolute path")


@pytest.mark.parametrize('entry', ['', '  ', None, 3, {'id': 'x'}])
def test_a_container_entry_that_is_no_non_empty_string_is_named_with_its_index(entry):
    (problem,) = problems(containers=['web', entry])
    assert problem.startswith('dfir_containers[1] is %r: ' % (entry,))


def test_containers_that_are_no_list():
    (problem,) = problems(containers='web')
    assert problem.startswith("dfir_containers must be a list")


def test_an_unknown_source_and_a_tcp_docker_host_are_named():
    assert problems(source='live', docker_host='tcp://10.0.0.1:2375') == [
        "dfir_source 'live' is not one of auto, api, disk",
        "dfir_docker_host: docker_host 'tcp://10.0.0.1:2375' is not supported: only unix sockets "
        "(unix:///path/to/docker.sock) are, so that nothing but the host itself talks to the engine"]


def test_every_problem_is_reported_at_once():
    assert len(problems(evidence_dir='rel', docker_root='rel', containers=[''])) == 3


def test_parameters_without_those_keys_are_not_checked():
    assert host_parameter_problems({}, parse_docker_host) == []
