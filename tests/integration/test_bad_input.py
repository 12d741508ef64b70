"""Bad input, each a real run through Ansible: a failed result naming the cause, and whatever can be collected."""

import contextlib
import os
import subprocess

import pytest

from tests.integration.conftest import module_run, sha256_of, source_args
from tests.support.ansible_run import REPO, run_module, run_playbook


def test_an_unknown_container_fails_naming_it_and_the_others_are_collected(dockerd, scenario, tmp_path_factory):
    run = module_run('container_inspect', dict(source_args(dockerd, 'api'), evidence_dir=True,
                                               containers=['no-such-container', 'dfir-stopped']), tmp_path_factory)
    assert run.result['failed']
    assert "no container has the id, id prefix or name 'no-such-container'" in run.result['msg']
    assert "'no-such-container'; the containers are: " in run.result['msg']
    assert 'dfir-stopped (%s)' % scenario['stopped']['id'][:12] in run.result['msg']
    (unknown,) = [item for item in run.result['containers'] if item.get('requested') == 'no-such-container']
    assert unknown['failed'] and unknown['artifacts'] == []
    stopped = run.outcome(scenario['stopped']['id'])
    assert stopped['failed'] is False
    assert 'containers/%s/inspect.json' % scenario['stopped']['id'] in stopped['artifacts']
    assert all(os.path.isfile(run.path(path)) for path in stopped['artifacts'])


@contextlib.contextmanager
def two_ids_sharing_a_first_digit(dockerd, scenario):
    """Two containers whose ids start alike: from the scenario, else created here until two do (and removed)."""
    created = []
    try:
        while True:
            by_digit = {}
            for container_id in scenario.ids() + created:
                by_digit.setdefault(container_id[0], []).append(container_id)
            shared = [ids for ids in by_digit.values() if len(ids) > 1]
            if shared:
                yield shared[0][0][0], sorted(shared[0])
                return
            created.append(dockerd.docker('create', '--network', 'none', 'dfir-test/app:1', 'true'))
    finally:
        for container_id in created:
            dockerd.docker('rm', container_id)


def test_an_ambiguous_prefix_fails_listing_every_match(dockerd, scenario, tmp_path_factory):
    with two_ids_sharing_a_first_digit(dockerd, scenario) as (prefix, matches):
        run = module_run('container_logs', dict(source_args(dockerd, 'api'), evidence_dir=True,
                                                containers=[prefix, 'dfir-running']), tmp_path_factory)
    assert run.result['failed']
    assert 'the id prefix %r matches %d containers' % (prefix, len(matches)) in run.result['msg']
    for container_id in matches:
        assert container_id[:12] in run.result['msg']
    assert run.outcome(scenario['running']['id'])['failed'] is False


@pytest.mark.parametrize('module', ['engine_facts', 'container_inspect', 'container_logs'])
def test_source_api_without_a_daemon_fails_saying_there_is_none(tmp_path, module):
    args = {'source': 'api', 'docker_host': 'unix://%s/docker.sock' % tmp_path}
    if module != 'engine_facts':
        args['evidence_dir'] = str(tmp_path / 'staging')
    result = run_module(module, args)
    assert result['failed']
    assert result['msg'] == ('source is api, but no Docker daemon socket at %s/docker.sock '
                             '(is dockerd running? is docker_host right?)' % tmp_path)
    assert result['artifacts'] == []
    assert not os.path.exists(str(tmp_path / 'staging'))


def test_a_docker_root_that_is_no_docker_root_is_refused(tmp_path):
    (tmp_path / 'etc').mkdir()
    (tmp_path / 'notes.txt').write_text('hello')
    result = run_module('engine_facts', {'source': 'disk', 'docker_root': str(tmp_path)})
    assert result['failed']
    assert result['msg'] == '%s is not a Docker root: it has none of containers/, image/ or graph/.' % tmp_path


def test_a_docker_root_holding_only_a_remapped_root_points_at_it(tmp_path):
    (tmp_path / '100000.100000' / 'containers').mkdir(parents=True)
    result = run_module('engine_facts', {'source': 'disk', 'docker_root': str(tmp_path)})
    assert result['failed']
    assert 'It holds the user-namespace-remapped root(s) %s/100000.100000: give one of those as docker_root.' % tmp_path \
        in result['msg']
    remapped = run_module('engine_facts', {'source': 'disk', 'docker_root': str(tmp_path / '100000.100000')})
    assert not remapped['failed'], remapped['msg']
    assert remapped['engine']['userns_remap'] is True
    assert remapped['engine']['remapped_to'] == {'uid': 100000, 'gid': 100000}


def test_remapped_roots_beside_the_containers_are_listed(tmp_path):
    (tmp_path / 'containers').mkdir()
    (tmp_path / '231072.231072' / 'containers').mkdir(parents=True)
    result = run_module('engine_facts', {'source': 'disk', 'docker_root': str(tmp_path)})
    assert not result['failed'], result['msg']
    assert result['engine']['remapped_roots'] == [{'path': str(tmp_path / '231072.231072'), 'uid': 231072, 'gid': 231072}]


@contextlib.contextmanager
def corrupt_config(dockerd, container_id, garbage=b'{"ID": "trunc'):
    """Replace a stopped container's config.v2.json on disk with garbage; put the original back afterwards."""
    path = os.path.join(dockerd.data_root, 'containers', container_id, 'config.v2.json')
    with open(path, 'rb') as handle:
        original = handle.read()
    try:
        with open(path, 'wb') as handle:
            handle.write(garbage)
        yield path
    finally:
        with open(path, 'wb') as handle:
            handle.write(original)


def test_a_corrupt_config_fails_that_container_keeps_its_raw_file_and_collects_the_others(dockerd, scenario, tmp_path_factory):
    broken = scenario['stopped']['id']
    with corrupt_config(dockerd, broken) as path:
        facts = run_module('engine_facts', source_args(dockerd, 'disk'))
        inspect = module_run('container_inspect', dict(source_args(dockerd, 'disk'), evidence_dir=True), tmp_path_factory)
        logs = module_run('container_logs', dict(source_args(dockerd, 'disk'), evidence_dir=True), tmp_path_factory)
    # the inventory fails naming the file and the cause, and still lists the container
    assert facts['failed'] and path in facts['msg'] and 'is not valid JSON' in facts['msg']
    (entry,) = [item for item in facts['containers'] if item['id'] == broken]
    assert entry['config_error'] and entry['state'] is None and entry['name'] is None
    assert len(facts['containers']) == len(scenario.containers)
    # that container fails, its raw corrupt file is preserved as found
    assert inspect.result['failed'] and broken in inspect.result['msg']
    outcome = inspect.outcome(broken)
    assert outcome['failed'] and 'corrupt config' in outcome['msg']
    copied = 'containers/%s/config/config.v2.json' % broken
    assert inspect.read(copied) == b'{"ID": "trunc'
    assert inspect.artifact(copied)['sha256'] == sha256_of(inspect.path(copied))
    assert 'containers/%s/inspect.json' % broken not in outcome['artifacts']
    # every other container is collected
    for role, truth in scenario.containers.items():
        if truth['id'] != broken:
            assert inspect.outcome(truth['id'])['failed'] is False, role
            assert os.path.isfile(inspect.path('containers/%s/inspect.json' % truth['id']))
    # its log is still there to copy
    assert not logs.result['failed'], logs.result['msg']
    log_outcome = logs.outcome(broken)
    assert any('config cannot be read' in note for note in log_outcome['notes'])
    assert log_outcome['artifacts'] == ['containers/%s/logs/%s-json.log' % (broken, broken)]


@pytest.fixture()
def read_only_dir(tmp_path):
    target = str(tmp_path / 'ro')
    os.mkdir(target)
    subprocess.run(['mount', '-t', 'tmpfs', '-o', 'ro,size=64k', 'tmpfs', target], check=True)
    yield target
    subprocess.run(['umount', target], check=True)


@pytest.mark.parametrize('module', ['container_inspect', 'container_logs'])
def test_an_evidence_dir_that_cannot_be_written_fails_before_collecting(dockerd, scenario, read_only_dir, module):
    result = run_module(module, dict(source_args(dockerd, 'api'), evidence_dir=read_only_dir))
    assert result['failed']
    assert result['msg'] == 'evidence_dir %s cannot be written: Read-only file system' % read_only_dir
    assert result['artifacts'] == []


def test_check_mode_writes_nothing_and_plans_what_a_run_writes(dockerd, scenario, inspected, tmp_path_factory):
    run = module_run('container_inspect', dict(source_args(dockerd, 'api'), evidence_dir=True), tmp_path_factory,
                     check_mode=True)
    assert not run.result['failed'], run.result['msg']
    assert not os.path.exists(run.evidence_dir)
    assert run.result['changed'] is True
    assert all(item['planned'] is True and item['sha256'] is None for item in run.result['artifacts'])
    assert sorted(item['path'] for item in run.result['artifacts']) == sorted(
        item['path'] for item in inspected['api'].result['artifacts'])
    facts = run_module('engine_facts', dict(source_args(dockerd, 'api'), evidence_dir=run.evidence_dir), check_mode=True)
    assert not facts['failed'] and not os.path.exists(run.evidence_dir)
    assert [item['path'] for item in facts['artifacts']] == ['engine.json']


def test_check_mode_refuses_a_relative_evidence_dir_with_a_clear_message(dockerd, scenario):
    result = run_module('container_inspect', dict(source_args(dockerd, 'api'), evidence_dir='relative/staging'),
                        check_mode=True)
    assert result['failed']
    assert result['msg'] == "evidence_dir must be an absolute path, not 'relative/staging'"
    assert 'exception' not in result


def test_acquire_without_an_examiner_names_the_missing_variable_not_a_jinja_error(tmp_path):
    rc, output = run_playbook(os.path.join(REPO, 'playbooks', 'acquire.yml'),
                              {'ansible_connection': 'local', 'dfir_signing_key': str(tmp_path / 'key'),
                               'dfir_case_root': str(tmp_path / 'cases')})
    assert rc != 0
    assert 'missing required arguments: dfir_examiner' in output
    assert 'is undefined' not in output
    assert not os.path.exists(str(tmp_path / 'cases'))


@pytest.mark.parametrize('given, missing', [
    ({}, 'dfir_case_dir, dfir_allowed_signers'),
    ({'dfir_case_dir': '/nonexistent-case'}, 'dfir_allowed_signers'),
    ({'dfir_allowed_signers': '/nonexistent-signers'}, 'dfir_case_dir'),
])
def test_verify_without_its_variables_names_each_missing_one_with_a_usage_line(given, missing):
    rc, output = run_playbook(os.path.join(REPO, 'playbooks', 'verify.yml'), given)
    assert rc != 0
    assert 'missing required variable(s): %s. Usage: ansible-playbook -i localhost, dfir.docker.verify' % missing in output
    assert 'is undefined' not in output


@pytest.mark.parametrize('below', ['docker', 'var/lib/docker', 'lib/docker', 'data'])
def test_a_directory_above_a_docker_root_points_at_it(tmp_path, below):
    (tmp_path / below / 'image').mkdir(parents=True)
    (tmp_path / 'etc').mkdir()
    result = run_module('engine_facts', {'source': 'disk', 'docker_root': str(tmp_path)})
    assert result['failed']
    assert result['msg'] == ('%s is not a Docker root: it has none of containers/, image/ or graph/. Did you mean %s/%s?'
                             % (tmp_path, tmp_path, below))
