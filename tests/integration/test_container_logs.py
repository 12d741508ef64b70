"""container_logs against a real daemon: byte-exact, ordered rotations, API logs per stream, drivers that keep nothing."""

import datetime
import gzip
import json
import os
import re

import pytest

from tests.integration.conftest import module_run, sha256_of, source_args
from tests.support.images import BASE_TAG
from tests.support.scenario import ROTATED_LINES

SOURCES = ['api', 'disk']
# RFC 3339 with nanoseconds, as dockerd writes them in front of each API log line
TIMESTAMP = re.compile(r'^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d{1,9})?Z$')


def log_artifacts(run, container_id, kind=None):
    return list(run.artifacts(container_id, kind))


@pytest.mark.parametrize('source', SOURCES + ['always'])
def test_every_container_is_collected_and_every_record_hashes_to_its_file(logs, scenario, source):
    run = logs[source]
    assert not run.result['failed'], run.result['msg']
    for role, truth in scenario.containers.items():
        assert run.outcome(truth['id'])['failed'] is False, role
    for record in run.result['artifacts']:
        assert record['sha256'] == sha256_of(run.path(record['path'])), record['path']
        assert record['size'] == os.path.getsize(run.path(record['path']))


@pytest.mark.parametrize('source', SOURCES)
def test_json_file_logs_are_byte_exact_and_ordered_live_then_older(logs, scenario, dockerd, source):
    run = logs[source]
    truth = scenario['rotated']
    directory = os.path.join(dockerd.data_root, 'containers', truth['id'])
    on_disk = sorted(name for name in os.listdir(directory) if name.startswith(truth['id'] + '-json.log'))
    # what max-file=3 and compress=true leave: the live file and two compressed rotations
    assert [name[len(truth['id']):] for name in on_disk] == ['-json.log', '-json.log.1.gz', '-json.log.2.gz']
    records = log_artifacts(run, truth['id'], 'container_log')
    assert [os.path.basename(item['path']) for item in records] == on_disk   # live, .1.gz, .2.gz in that order
    assert [item['rotation'] for item in records] == [0, 1, 2]
    assert [item['compressed'] for item in records] == [False, True, True]
    for record in records:
        with open(os.path.join(directory, os.path.basename(record['path'])), 'rb') as handle:
            assert run.read(record['path']) == handle.read()
        assert record['source'] == os.path.join(directory, os.path.basename(record['path']))


def test_the_rotated_logs_together_are_the_tail_of_what_the_container_printed(logs, scenario):
    run = logs['disk']
    records = log_artifacts(run, scenario['rotated']['id'], 'container_log')
    kept = []
    for record in reversed(records):   # oldest first
        data = run.read(record['path'])
        if record['compressed']:
            data = gzip.decompress(data)
        entries = [json.loads(line) for line in data.decode().splitlines()]
        assert all(entry['stream'] == 'stdout' for entry in entries)
        kept.extend(entry['log'].rstrip('\n') for entry in entries)
    assert 0 < len(kept) < len(ROTATED_LINES)          # rotation really dropped the oldest lines
    assert kept == ROTATED_LINES[-len(kept):]          # contiguous, in order, ending with the last line


def test_the_local_drivers_file_is_copied_byte_exact(logs, scenario, dockerd):
    truth = scenario['local_log']
    for source in SOURCES:
        run = logs[source]
        (record,) = log_artifacts(run, truth['id'], 'container_log_local')
        with open(os.path.join(dockerd.data_root, 'containers', truth['id'], 'local-logs', 'container.log'), 'rb') as handle:
            assert run.read(record['path']) == handle.read()
        assert b'local two' in run.read(record['path'])


def parse_api_log(data):
    """Lines "<RFC 3339 timestamp> <text>" of an API log; returns [(datetime, text)]."""
    parsed = []
    for line in data.decode().split('\n')[:-1]:   # every line ends with \n; a TTY's also has \r before it
        stamp, _space, text = line.partition(' ')
        match = TIMESTAMP.match(stamp)
        assert match, line
        moment = datetime.datetime.strptime(match.group(1), '%Y-%m-%dT%H:%M:%S').replace(tzinfo=datetime.timezone.utc)
        parsed.append((moment, text))
    return parsed


def test_api_logs_carry_timestamps_and_keep_stdout_and_stderr_apart(logs, scenario, sdk):
    run = logs['always']
    truth = scenario['running']
    base = 'containers/%s/logs/' % truth['id']
    stdout = parse_api_log(run.read(base + 'api-stdout.log'))
    stderr = parse_api_log(run.read(base + 'api-stderr.log'))
    assert [text for _moment, text in stdout] == truth['stdout']
    assert [text for _moment, text in stderr] == truth['stderr']
    started = datetime.datetime.strptime(sdk.api.inspect_container(truth['id'])['State']['StartedAt'][:19],
                                         '%Y-%m-%dT%H:%M:%S').replace(tzinfo=datetime.timezone.utc)
    now = datetime.datetime.now(datetime.timezone.utc)
    assert all(started <= moment <= now for moment, _text in stdout + stderr)
    assert run.artifact(base + 'api-stdout.log')['stream'] == 'stdout'
    assert run.artifact(base + 'api-stderr.log')['source'] == 'api'


def test_a_tty_containers_api_log_is_one_stream(logs, scenario):
    run = logs['always']
    base = 'containers/%s/logs/' % scenario['tty']['id']
    names = [os.path.basename(item['path']) for item in log_artifacts(run, scenario['tty']['id'], 'container_log_api')]
    assert names == ['api-tty.log']
    (line,) = parse_api_log(run.read(base + 'api-tty.log'))
    assert line[1] == 'on a tty\r'   # a TTY ends lines with CR LF


def test_disk_mode_never_asks_the_daemon(logs):
    assert [item for item in logs['disk'].result['artifacts'] if item['kind'] == 'container_log_api'] == []


def test_by_default_the_daemon_is_not_asked_for_logs_whose_files_were_copied(logs, scenario):
    """api_logs=auto: every container of the scenario logs to files (or to none), so the daemon is asked nothing."""
    run = logs['api']
    assert [item['path'] for item in run.result['artifacts'] if item['kind'] == 'container_log_api'] == []
    assert run.result['state_changes'] == []
    outcome = run.outcome(scenario['running']['id'])
    assert any('api_logs=auto' in note for note in outcome['notes'])
    assert log_artifacts(run, scenario['running']['id'], 'container_log')


def test_api_logs_always_records_each_request_as_a_state_change(logs, scenario):
    run = logs['always']
    asked = dict((change['container_id'], change) for change in run.result['state_changes'])
    assert scenario['running']['id'] in asked and scenario['rotated']['id'] in asked
    change = asked[scenario['rotated']['id']]
    assert change['action'] == 'engine_api_log_read' and change['ok'] is True and change['changed'] is True
    assert 'atime' in change['msg'] and 'Docker root' in change['msg']
    # never for a container the daemon was not asked about
    assert scenario['no_log']['id'] not in asked and scenario['created']['id'] not in asked


@pytest.mark.parametrize('value, mode', [(True, 'always'), ('no', 'never')])
def test_the_booleans_of_earlier_versions_still_work_with_a_deprecation_warning(dockerd, scenario, tmp_path_factory,
                                                                                value, mode):
    run = module_run('container_logs', dict(source_args(dockerd, 'api'), evidence_dir=True, api_logs=value,
                                            containers=[scenario['running']['id']]), tmp_path_factory)
    assert not run.result['failed'], run.result['msg']
    api = [item for item in run.result['artifacts'] if item['kind'] == 'container_log_api']
    assert bool(api) == (mode == 'always')
    assert any('is deprecated: use api_logs=%s' % mode in warning for warning in run.result['warnings']), run.result


def test_an_unknown_api_logs_value_is_a_clear_error(dockerd, tmp_path_factory):
    run = module_run('container_logs', dict(source_args(dockerd, 'api'), evidence_dir=True, api_logs='sometimes'),
                     tmp_path_factory)
    assert run.result['failed'] and 'api_logs' in run.result['msg'] and 'sometimes' in run.result['msg']
    assert not os.path.exists(run.evidence_dir)


def test_auto_asks_the_daemon_when_the_driver_keeps_nothing_on_disk(dockerd, tmp_path_factory):
    """A remote driver (syslog to a loopback UDP port nobody listens on) with its local cache disabled keeps no
    file: api_logs=auto asks the daemon, which cannot read syslog back and says so; with the cache, the cache
    files are copied and the daemon is not asked."""
    made = []
    try:
        for cache in ('true', 'false'):
            made.append(dockerd.docker('run', '-d', '--network', 'none', '--log-driver', 'syslog', '--log-opt',
                                       'syslog-address=udp://127.0.0.1:9', '--log-opt', 'cache-disabled=%s' % cache,
                                       BASE_TAG, 'sh', '-c', 'echo to syslog'))
        for container_id in made:
            assert dockerd.docker('wait', container_id) == '0'
        run = module_run('container_logs', dict(source_args(dockerd, 'api'), evidence_dir=True, containers=made),
                         tmp_path_factory)
    finally:
        for container_id in made:
            dockerd.docker('rm', '-f', container_id, check=False)
    assert not run.result['failed'], run.result['msg']
    uncached, cached = run.outcome(made[0]), run.outcome(made[1])
    assert uncached['logs_on_disk'] is False
    assert any(note.startswith('the Engine API served no log') for note in uncached['notes']), uncached['notes']
    assert cached['logs_on_disk'] is True
    assert any('api_logs=auto' in note for note in cached['notes']), cached['notes']
    assert [os.path.basename(path) for path in cached['artifacts']] == ['container-cached.log']
    assert run.result['state_changes'] == []


@pytest.mark.parametrize('source', SOURCES)
def test_a_container_logging_to_none_is_reported_as_logs_kept_nowhere(logs, scenario, source):
    outcome = logs[source].outcome(scenario['no_log']['id'])
    assert outcome['failed'] is False
    assert outcome['log_driver'] == 'none'
    assert outcome['logs_on_disk'] is False
    assert 'nothing was kept' in outcome['logs_elsewhere']
    assert outcome['artifacts'] == []


def snapshot(directory):
    """Every entry below a directory with its size and modification time."""
    found = {}
    for parent, dirnames, filenames in os.walk(directory):
        for name in dirnames + filenames:
            path = os.path.join(parent, name)
            st = os.lstat(path)
            found[os.path.relpath(path, directory)] = (st.st_size, st.st_mtime_ns)
    return found


def test_collecting_logs_live_writes_nothing_into_the_docker_root(dockerd, scenario, tmp_path_factory):
    """dockerd creates an empty log file when asked for the log of a container that never ran: never ask it."""
    containers = os.path.join(dockerd.data_root, 'containers')
    quiet = [truth['id'] for role, truth in scenario.containers.items() if truth['state'] not in ('running', 'paused')]
    before = dict((container_id, snapshot(os.path.join(containers, container_id))) for container_id in quiet)
    run = module_run('container_logs', dict(source_args(dockerd, 'api'), evidence_dir=True), tmp_path_factory)
    assert not run.result['failed'], run.result['msg']
    after = dict((container_id, snapshot(os.path.join(containers, container_id))) for container_id in quiet)
    assert after == before
    outcome = run.outcome(scenario['created']['id'])
    assert outcome['artifacts'] == [] and any('never started' in note for note in outcome['notes'])


def test_check_mode_plans_the_same_files_and_writes_nothing(dockerd, scenario, logs, tmp_path_factory):
    run = module_run('container_logs', dict(source_args(dockerd, 'api'), evidence_dir=True), tmp_path_factory,
                     check_mode=True)
    assert not run.result['failed'], run.result['msg']
    assert not os.path.exists(run.evidence_dir)
    assert all(item['planned'] and item['sha256'] is None for item in run.result['artifacts'])
    assert sorted(item['path'] for item in run.result['artifacts']) == sorted(
        item['path'] for item in logs['api'].result['artifacts'])
