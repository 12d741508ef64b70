"""container_changes on the session's daemon: the daemon's own list, counted and kept byte for byte."""

import json
import os

import pytest

from tests.integration.conftest import module_run, sha256_of, source_args
from tests.support.fleet_scenario import diff_counts
from tests.support.scenario import IMAGE_TAG


@pytest.fixture(scope='module')
def changer(dockerd, scenario):
    """A stopped container that added, changed and deleted files of its image."""
    container_id = dockerd.docker('run', '-d', '--network', 'none', '--name', 'dfir-changer', IMAGE_TAG, 'sh', '-c',
                                  'rm /usr/bin/app.sh; echo changed > /srv/data/seed.txt; mkdir -p /tmp/drop; '
                                  'echo new > /tmp/drop/file')
    dockerd.docker('wait', container_id)
    yield container_id
    dockerd.docker('rm', '-f', container_id, check=False)


def test_the_counts_are_what_docker_diff_shows_and_the_answer_is_kept(dockerd, scenario, changer, tmp_path_factory):
    run = module_run('container_changes', dict(source_args(dockerd, 'api'), evidence_dir=True), tmp_path_factory)
    assert not run.result['failed'], run.result['msg']
    truth = diff_counts(dockerd, changer)
    assert truth['added'] >= 2 and truth['changed'] >= 2 and truth['deleted'] == 1
    assert run.outcome(changer)['changes'] == truth
    for role, truth in dict(scenario.containers, changer={'id': changer}).items():
        outcome = run.outcome(truth['id'])
        assert outcome['changes'] == diff_counts(dockerd, truth['id']), role
        (record,) = run.artifacts(truth['id'], 'container_changes')
        assert record['source'] == 'api' and record['counts'] == outcome['changes']
        assert sha256_of(run.path(record['path'])) == record['sha256']
        entries = json.loads(run.read(record['path']).decode()) or []
        assert len(entries) == outcome['changes']['total']


def test_without_a_daemon_nothing_is_counted_and_nothing_fails(dockerd, scenario, tmp_path_factory):
    run = module_run('container_changes', dict(source_args(dockerd, 'disk'), evidence_dir=True), tmp_path_factory)
    assert not run.result['failed']
    assert run.result['artifacts'] == []
    for outcome in run.result['containers']:
        assert outcome['changes'] is None and 'not available' in outcome['notes'][0]
    assert any('not available' in warning for warning in run.result['warnings'])


def test_check_mode_counts_and_writes_nothing(dockerd, scenario, tmp_path_factory):
    run = module_run('container_changes', dict(source_args(dockerd, 'api'), evidence_dir=True,
                                               containers=['dfir-stopped']), tmp_path_factory, check_mode=True)
    assert not run.result['failed']
    (planned,) = run.result['artifacts']
    assert planned['planned'] is True and planned['sha256'] is None
    assert run.outcome(scenario['stopped']['id'])['changes'] == diff_counts(dockerd, scenario['stopped']['id'])
    assert not os.path.exists(run.evidence_dir)
