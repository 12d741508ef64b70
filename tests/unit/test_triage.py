"""triage.json from a case's files: rows, signals, order, host outcomes and the closing table."""

import json
import os

from ansible_collections.dfir.docker.plugins.plugin_utils import _hosts, _triage

WEB, JOB, ODD = 'a' * 64, 'b' * 64, 'c' * 64


def write(path, document):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w') as handle:
        json.dump(document, handle)


def make_case(tmp_path):
    """One host fetched (three containers, two selected), one never reached."""
    case_dir = str(tmp_path / 'case')
    host = os.path.join(case_dir, 'hosts', 'web-01')
    engine = {
        'engine': {'source': 'api', 'version': '20.10.24', 'storage_driver': 'overlay2'},
        'containers': [
            {'id': WEB, 'name': 'web', 'image': 'nginx:1', 'state': 'running', 'running': True, 'privileged': False,
             'pid_mode': None, 'network_mode': 'host'},
            {'id': JOB, 'name': 'job', 'image': 'batch:1', 'state': 'exited', 'running': False},
            {'id': ODD, 'name': 'odd', 'image': 'x:1', 'state': 'exited', 'running': False, 'known_to_daemon': False},
        ],
        'disagreements': [{'container_id': WEB, 'field': 'pid', 'api': 10, 'disk': 11}],
    }
    write(os.path.join(host, 'engine.json'), engine)
    write(os.path.join(host, 'containers', WEB, 'processes.json'), {'processes': [
        {'host_pid': 10, 'exe': '/usr/sbin/nginx', 'exe_deleted': False, 'container_user_names': {'effective': 'root'}},
        {'host_pid': 11, 'exe': '/tmp/.x (deleted)', 'exe_deleted': True, 'container_user_names': {'effective': 'app'}}]})
    # container_changes' report: counts by docker diff's letters, and by detail
    write(os.path.join(host, 'containers', WEB, 'changes.json'),
          {'counts': {'A': 1, 'C': 1, 'D': 1, 'entries_scanned': 9, 'content_changed': 1}, 'layers': []})
    write(os.path.join(host, 'containers', JOB, 'changes.json'), {'counts': {'A': 1, 'C': 0, 'D': 0}})
    write(os.path.join(host, 'collection.json'), {
        'host': 'web-01', 'selected_containers': [WEB, JOB], 'steps': [], 'fetch_problems': [],
        'artifacts': [
            {'path': 'engine.json', 'kind': 'engine_facts', 'container_id': None},
            {'path': 'containers/%s/processes.json' % WEB, 'kind': 'process_map', 'container_id': WEB},
            {'path': 'containers/%s/changes.json' % WEB, 'kind': 'container_changes_report', 'container_id': WEB},
            {'path': 'containers/%s/changes.json' % JOB, 'kind': 'container_changes_report', 'container_id': JOB},
        ]})
    return case_dir


def test_every_container_gets_a_row_built_from_the_case_files(tmp_path):
    document = _triage.summarize(make_case(tmp_path), 'IR-1', ['web-01', 'db-01'], {'db-01': 'unreachable: refused'})
    rows = dict((row['name'], row) for row in document['containers'])
    assert rows['web']['changes'] == {'added': 1, 'changed': 1, 'deleted': 1, 'total': 3}
    assert rows['web']['processes'] == 2 and rows['web']['users'] == ['app', 'root']
    assert rows['job']['changes']['total'] == 1 and rows['job']['processes'] is None
    assert rows['odd']['selected'] is False and rows['odd']['changes'] is None
    assert sorted(rows['web']['signals']) == sorted(['network=host', 'deleted executable /tmp/.x (host pid 11)',
                                                     'daemon and disk disagree on pid'])
    assert rows['odd']['signals'] == ['on disk but not known to the daemon']


def test_rows_with_signals_come_first_then_the_most_changed(tmp_path):
    document = _triage.summarize(make_case(tmp_path), 'IR-1', ['web-01'])
    assert [row['name'] for row in document['containers']] == ['web', 'odd', 'job']


def test_a_host_that_was_never_reached_is_failed_with_its_reason(tmp_path):
    document = _triage.summarize(make_case(tmp_path), 'IR-1', ['web-01', 'db-01'], {'db-01': 'unreachable: refused'})
    hosts = dict((host['name'], host) for host in document['hosts'])
    assert hosts['db-01']['status'] == 'failed' and hosts['db-01']['reason'] == 'unreachable: refused'
    assert hosts['web-01']['status'] == 'collected' and hosts['web-01']['containers'] == 3
    assert hosts['web-01']['selected'] == 2 and hosts['web-01']['engine']['source'] == 'api'
    assert document['totals'] == {'hosts': 2, 'hosts_failed': 1, 'containers': 3, 'running': 1,
                                  'with_signals': 2, 'changed_paths': 4}


def test_the_table_lists_hosts_then_selected_containers_and_says_how_many_it_left_out(tmp_path):
    document = _triage.summarize(make_case(tmp_path), 'IR-1', ['web-01', 'db-01'], {'db-01': 'refused'})
    lines = _triage.table(document, show=1)
    assert lines[0].split()[:3] == ['host', 'status', 'src']
    # hosts in the play's order
    assert lines[1].startswith('web-01') and 'collected' in lines[1]
    assert lines[2].startswith('db-01') and 'failed' in lines[2] and lines[2].endswith('refused')
    assert lines[4].split()[:5] == ['web-01', 'web', 'running', '2', 'A1']
    assert lines[-1] == '... and 1 more selected container(s) in triage.json'


def test_a_file_that_is_not_recorded_in_the_collection_is_not_read(tmp_path):
    case_dir = make_case(tmp_path)
    # a processes.json dropped into the case afterwards: not an artifact the host recorded
    write(os.path.join(case_dir, 'hosts', 'web-01', 'containers', JOB, 'processes.json'), {'processes': [{}, {}]})
    rows = dict((row['name'], row) for row in _triage.summarize(case_dir, 'IR-1', ['web-01'])['containers'])
    assert rows['job']['processes'] is None


def test_change_counts_come_from_the_report_and_anything_else_is_none():
    assert _triage.change_counts({'counts': {'A': 2, 'C': 1, 'D': 3, 'entries_scanned': 40}}) == {
        'added': 2, 'changed': 1, 'deleted': 3, 'total': 6}
    assert _triage.change_counts(None) is None and _triage.change_counts([{'Kind': 1}]) is None


def test_host_status_failed_partial_collected_and_the_empty_selection_note():
    assert _hosts.host_status('h', None, {})['reason'] == _hosts.NOT_FETCHED
    nothing = {'host_failure': 'no engine', 'artifacts': [], 'selected_containers': None}
    assert _hosts.host_status('h', nothing, {})['status'] == 'failed'
    some = {'host_failure': 'lost mid-way', 'artifacts': [{'path': 'engine.json'}]}
    assert _hosts.host_status('h', some, {})['status'] == 'partial'
    step = {'steps': [{'step': 'container_logs', 'failed': True, 'msg': 'boom'}], 'artifacts': [{}]}
    assert _hosts.host_status('h', step, {})['reason'] == 'container_logs: boom'
    empty = _hosts.host_status('h', {'artifacts': [{}], 'selected_containers': []}, {})
    assert empty['status'] == 'collected' and empty['containers_selected'] == 0
    assert _hosts.host_line(empty) == ('h: collected, 1 artifact(s), 0 container(s) selected - '
                                       'the selection matched no container on this host')


def test_host_status_is_partial_when_evidence_was_left_in_the_staging_dir_not_when_kept_on_request():
    left = {'artifacts': [{}], 'staging': {'state': 'kept', 'problem': 'the staging dir /s/IR is kept on the host: 2 file(s)'}}
    status = _hosts.host_status('h', left, {})
    assert status['status'] == 'partial' and status['reason'] == left['staging']['problem']
    assert status['staging'] == left['staging']
    for staging in ({'state': 'kept', 'reason': 'kept on request'}, {'state': 'removed', 'removed_files': 1}):
        assert _hosts.host_status('h', {'artifacts': [{}], 'staging': staging}, {})['status'] == 'collected'


def test_a_container_whose_host_config_could_not_be_read_is_not_shown_as_all_clear(tmp_path):
    case_dir = make_case(tmp_path)
    path = os.path.join(case_dir, 'hosts', 'web-01', 'engine.json')
    with open(path) as handle:
        engine = json.load(handle)
    engine['containers'][1].update(privileged=None, host_config_error='no hostconfig.json in /x')
    write(path, engine)
    rows = dict((row['name'], row) for row in _triage.summarize(case_dir, 'IR-1', ['web-01'])['containers'])
    assert rows['job']['signals'] == ['host config unreadable: privileged and namespaces unknown']
