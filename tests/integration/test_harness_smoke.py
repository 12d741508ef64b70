"""The harness itself: a private daemon answers and the offline base image runs."""

from tests.support.ansible_run import run_module


def test_private_daemon_runs_the_offline_base_image(dockerd):
    output = dockerd.docker('run', '--rm', '--network', 'none', 'dfir-test/base:1', 'sh', '-c', 'echo hello; id -u')
    assert output.split() == ['hello', '0']


def test_engine_facts_runs_through_ansible_against_it(dockerd):
    result = run_module('engine_facts', {'docker_host': dockerd.host})
    assert not result.get('failed'), result
    assert result['engine']['docker_root'] == dockerd.data_root
