"""process_map against real engines: a normal dockerd and a --userns-remap=default one.

Ground truth is read here, independently of the collection's code: a few
direct reads of /proc, `docker top`, `docker inspect`, /etc/subuid, and the
passwd file the test image was built with.
"""

import hashlib
import json
import os
import threading
import time
import uuid

import pytest

from tests.support.ansible_run import run_module
from tests.support.dockerd import subuid_start
from tests.support.images import BASE_TAG

# Processes under uid 0 and uid 1001 ("app" in the image), and a zombie: the
# `sleep 1` child of a process that exec'd `sleep 1d` is never reaped.
MAIN_COMMAND = 'su app -c "sleep 1d" & sh -c "sleep 1 & exec sleep 1d" & exec sleep 1d'
IMAGE_NAMES = {0: 'root', 1001: 'app'}


# -- ground truth, read directly ------------------------------------------

def status_of(pid):
    fields = {}
    with open('/proc/%d/status' % pid) as handle:
        for line in handle:
            key, _sep, value = line.partition(':')
            fields[key] = value.split()
    return fields


def pid_namespace(pid):
    return os.readlink('/proc/%d/ns/pid' % pid)


def in_cgroup(pid, container_id):
    with open('/proc/%d/cgroup' % pid) as handle:
        return container_id in handle.read()


def all_pids():
    return [int(name) for name in os.listdir('/proc') if name.isdigit()]


def pids_where(predicate):
    found = set()
    for pid in all_pids():
        try:
            if predicate(pid):
                found.add(pid)
        except OSError:
            pass
    return found


def docker_top(daemon, name):
    """{host pid: effective uid} as `docker top` (ps on the host) shows them."""
    lines = daemon.docker('top', name, '-o', 'pid,uid').splitlines()[1:]
    return dict((int(line.split()[0]), int(line.split()[1])) for line in lines)


def wait_for(predicate, what, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError('timed out waiting for %s' % what)


# -- the scenario ------------------------------------------------------------

class Scenario:
    def __init__(self, daemon, remapped):
        self.daemon = daemon
        self.remapped = remapped
        tag = uuid.uuid4().hex[:8]
        self.names = dict((role, 'pm-%s-%s' % (tag, role)) for role in ('main', 'sibling', 'hostpid', 'paused', 'stopped'))
        self.ids = {}
        self.inits = {}
        self.result = None

    def start(self):
        run = self.daemon.docker
        names = self.names
        run('run', '-d', '--name', names['main'], '--network', 'none', BASE_TAG, 'sh', '-c', MAIN_COMMAND)
        run('run', '-d', '--name', names['sibling'], '--network', 'none', '--pid', 'container:' + names['main'],
            BASE_TAG, 'sleep', '1d')
        # The host's PID namespace cannot be shared from inside a remapped user namespace.
        host_userns = ['--userns', 'host'] if self.remapped else []
        run('run', '-d', '--name', names['hostpid'], '--network', 'none', '--pid', 'host', *host_userns,
            BASE_TAG, 'sleep', '1d')
        run('run', '-d', '--name', names['paused'], '--network', 'none', BASE_TAG, 'sleep', '1d')
        run('pause', names['paused'])
        run('run', '--name', names['stopped'], '--network', 'none', BASE_TAG, 'true')
        for role, name in names.items():
            document = self.daemon.inspect(name)
            self.ids[role] = document['Id']
            self.inits[role] = document['State']['Pid']
        main_ns = pid_namespace(self.inits['main'])
        wait_for(lambda: any(status_of(pid)['State'][0] == 'Z'
                             for pid in pids_where(lambda p: pid_namespace(p) == main_ns)), 'the zombie')
        wait_for(lambda: any(status_of(pid)['Uid'][0] == str(self.host_uid(1001))
                             for pid in pids_where(lambda p: pid_namespace(p) == main_ns)), 'the uid 1001 process')

    def host_uid(self, container_uid, role='main'):
        if self.remapped and role != 'hostpid':
            start, count = subuid_start()
            assert container_uid < count
            return start + container_uid
        return container_uid

    def record(self, role):
        return next(item for item in self.result['containers'] if item.get('id') == self.ids[role])

    def stop(self):
        self.daemon.docker('unpause', self.names['paused'], check=False)
        self.daemon.docker('rm', '-f', *self.names.values(), check=False)


@pytest.fixture(scope='module', params=['dockerd', 'dockerd_remapped'])
def scenario(request, tmp_path_factory):
    daemon = request.getfixturevalue(request.param)
    scene = Scenario(daemon, request.param == 'dockerd_remapped')
    try:
        scene.start()
        scene.staging = str(tmp_path_factory.mktemp('process-map') / 'evidence')
        scene.result = run_module('process_map', {'docker_host': daemon.host, 'containers': list(scene.names.values()),
                                                  'evidence_dir': scene.staging, 'ids': [0, 1001]})
        assert not scene.result.get('failed'), scene.result
        yield scene
    finally:
        scene.stop()


# -- every process, both PIDs ----------------------------------------------

def test_every_process_of_the_pid_namespace_and_cgroup_is_listed(scenario):
    main = scenario.record('main')
    namespace = pid_namespace(scenario.inits['main'])
    expected = pids_where(lambda pid: pid_namespace(pid) == namespace or in_cgroup(pid, scenario.ids['main']))
    assert set(item['host_pid'] for item in main['processes']) == expected
    # main, su'd sleep, the exec'd sleep and its zombie child, and the sibling's sleep
    assert len(expected) == 5


def test_docker_top_processes_are_there_with_the_same_uid_and_the_zombie_it_misses_too(scenario):
    main = scenario.record('main')
    ours = dict((item['host_pid'], item) for item in main['processes'])
    top = docker_top(scenario.daemon, scenario.names['main'])
    assert top, 'docker top showed nothing'
    for pid, uid in top.items():
        assert ours[pid]['host_uids']['effective'] == uid
    zombies = [item for item in main['processes'] if item['zombie']]
    assert len(zombies) == 1 and zombies[0]['host_pid'] not in top


def test_container_pids_and_parents_are_those_of_nspid(scenario):
    main = scenario.record('main')
    by_host_pid = dict((item['host_pid'], item) for item in main['processes'])
    for item in main['processes']:
        nspid = [int(value) for value in status_of(item['host_pid'])['NSpid']]
        assert item['ns_pids'] == nspid
        assert item['container_pid'] == nspid[-1]
        parent = by_host_pid.get(item['host_ppid'])
        assert item['container_ppid'] == (parent['container_pid'] if parent else 0)
    assert by_host_pid[scenario.inits['main']]['container_pid'] == 1


def test_ids_on_the_host_and_in_the_container_with_the_container_own_names(scenario):
    main = scenario.record('main')
    seen = set()
    for item in main['processes']:
        status = status_of(item['host_pid'])
        assert [item['host_uids'][key] for key in ('real', 'effective', 'saved', 'fs')] == [int(v) for v in status['Uid']]
        assert [item['host_gids'][key] for key in ('real', 'effective', 'saved', 'fs')] == [int(v) for v in status['Gid']]
        if item['container_id'] != scenario.ids['main']:
            continue
        container_uid = item['container_uids']['effective']
        assert scenario.host_uid(container_uid) == item['host_uids']['effective']
        assert item['container_user_names']['effective'] == IMAGE_NAMES[container_uid]
        assert item['container_group_names']['effective'] == IMAGE_NAMES[item['container_gids']['effective']]
        seen.add(container_uid)
    assert seen == {0, 1001}


def test_the_zombie_is_reported_with_its_parent_inside(scenario):
    main = scenario.record('main')
    zombie = next(item for item in main['processes'] if item['zombie'])
    parent = next(item for item in main['processes'] if item['host_pid'] == zombie['host_ppid'])
    assert zombie['state'] == 'Z' and zombie['state_name'] == 'zombie'
    assert zombie['container_ppid'] == parent['container_pid'] and parent['cmdline'] == ['sleep', '1d']
    assert zombie['container_id'] == scenario.ids['main']
    assert zombie['cmdline'] == [] and zombie['exe'] is None


def test_a_sibling_sharing_the_pid_namespace_lists_both_each_with_its_owner(scenario):
    sibling, main = scenario.record('sibling'), scenario.record('main')
    assert sibling['pid_mode'] == 'container:' + scenario.ids['main']
    assert sibling['namespaces']['pid']['shared_with_containers'] == [scenario.ids['main']]
    assert main['namespaces']['pid']['shared_with_containers'] == [scenario.ids['sibling']]
    assert set(item['host_pid'] for item in sibling['processes']) == set(item['host_pid'] for item in main['processes'])
    own = [item for item in sibling['processes'] if item['host_pid'] == scenario.inits['sibling']]
    assert own[0]['container_id'] == scenario.ids['sibling'] and own[0]['placed_by'] == 'cgroup'
    assert own[0]['container_pid'] == int(status_of(scenario.inits['sibling'])['NSpid'][-1])
    assert own[0]['container_ppid'] == 0


def test_a_host_pid_container_is_found_by_cgroup_and_its_pids_are_host_pids(scenario):
    record = scenario.record('hostpid')
    expected = pids_where(lambda pid: in_cgroup(pid, scenario.ids['hostpid']))
    assert set(item['host_pid'] for item in record['processes']) == expected == {scenario.inits['hostpid']}
    assert record['namespaces']['pid']['shared_with_host']
    assert all(item['container_pid'] == item['host_pid'] for item in record['processes'])
    assert any('--pid=host' in note for note in record['notes'])


def test_a_paused_container_is_read_and_left_paused(scenario):
    record = scenario.record('paused')
    assert record['paused'] and record['running']
    assert [item['host_pid'] for item in record['processes']] == [scenario.inits['paused']]
    assert scenario.daemon.inspect(scenario.names['paused'])['State']['Paused'] is True
    with open('/sys/fs/cgroup/freezer/docker/%s/freezer.state' % scenario.ids['paused']) as handle:
        assert handle.read().strip() == 'FROZEN'


def test_a_stopped_container_reports_its_last_state_and_no_processes(scenario):
    record = scenario.record('stopped')
    assert not record['running'] and record['processes'] == []
    assert record['state'] == 'exited' and record['exit_code'] == 0
    assert any('not running' in note for note in record['notes'])


def test_the_maps_are_written_as_hashed_artifacts(scenario):
    records = dict((item['path'], item) for item in scenario.result['artifacts'])
    for role in ('main', 'sibling', 'hostpid', 'paused', 'stopped'):
        path = 'containers/%s/processes.json' % scenario.ids[role]
        with open(os.path.join(scenario.staging, path), 'rb') as handle:
            data = handle.read()
        assert records[path]['sha256'] == hashlib.sha256(data).hexdigest()
        assert json.loads(data.decode())['processes'] == scenario.record(role)['processes']
    assert 'userns.json' in records


# -- user namespaces ------------------------------------------------------------

def test_the_userns_report_gives_the_remap_setting_ranges_and_both_directions(scenario):
    userns = scenario.result['userns']
    if not scenario.remapped:
        assert not userns['userns_remap']['enabled']
        assert scenario.record('main')['uid_map'] == [{'inside': 0, 'outside': 0, 'count': 4294967295}]
        return
    start, count = subuid_start()
    remap = userns['userns_remap']
    assert remap['setting'] == 'default' and remap['user'] == 'dockremap'
    assert remap['configured_in'].startswith('command line of dockerd')
    assert remap['uid_ranges'][0] == {'name': 'dockremap', 'start': start, 'count': count}
    gid_start, _gid_count = subuid_start(path='/etc/subgid')
    assert remap['remapped_root_ids'] == {'uid': start, 'gid': gid_start}
    assert scenario.daemon.info()['DockerRootDir'].endswith('/%d.%d' % (start, gid_start))
    lookups = dict((item['id'], item) for item in userns['id_lookup'])
    assert lookups[0]['uid'] == {'container_to_host': start, 'host_to_container': None}
    assert lookups[1001]['uid']['container_to_host'] == start + 1001
    with open('/proc/%d/uid_map' % scenario.inits['main']) as handle:
        inside, outside, length = (int(value) for value in handle.read().split())
    assert scenario.record('main')['uid_map'] == [{'inside': inside, 'outside': outside, 'count': length}]
    assert (inside, outside) == (0, start)
    main_lookup = dict((item['id'], item) for item in scenario.record('main')['id_lookup'])
    assert main_lookup[1001]['uid'] == {'id': 1001, 'inside_to_host': start + 1001, 'host_to_inside': None}
    # --userns=host opts a container out of the remap: its ids are the host's.
    hostpid = scenario.record('hostpid')['processes'][0]
    assert hostpid['host_uids']['effective'] == hostpid['container_uids']['effective'] == 0
    hostpid_lookup = dict((item['id'], item) for item in scenario.record('hostpid')['id_lookup'])
    assert hostpid_lookup[1001]['uid'] == {'id': 1001, 'inside_to_host': 1001, 'host_to_inside': 1001}


# -- reverse lookups ---------------------------------------------------------------

def test_reverse_lookup_both_ways(scenario):
    main_ns = pid_namespace(scenario.inits['main'])
    app_pid = next(pid for pid in pids_where(lambda p: pid_namespace(p) == main_ns)
                   if status_of(pid)['Uid'][0] == str(scenario.host_uid(1001)))
    app_container_pid = int(status_of(app_pid)['NSpid'][-1])
    gone = max(all_pids()) + 100000
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        result = run_module('process_map', {'docker_host': scenario.daemon.host, 'containers': [scenario.names['main']],
                                            'host_pids': [app_pid, os.getpid(), gone, thread.native_id],
                                            'container_pids': [{'container': scenario.names['main'], 'pid': app_container_pid},
                                                               {'container': scenario.names['main'], 'pid': 4242}]})
    finally:
        stop.set()
        thread.join()
    assert not result.get('failed'), result
    app, pytest_itself, missing, a_thread, back, absent = result['lookups']
    assert a_thread['belongs_to'] == 'host' and a_thread['thread_of_host_pid'] == os.getpid()
    assert app['belongs_to'] == 'container' and app['container_id'] == scenario.ids['main']
    assert app['container_pid'] == app_container_pid
    assert app['container_uids']['real'] == 1001 and app['container_user_names']['real'] == 'app'
    assert app['host_uids']['real'] == scenario.host_uid(1001)
    assert pytest_itself['belongs_to'] == 'host' and pytest_itself['container_id'] is None
    assert not missing['found'] and 'no process with host PID %d' % gone in missing['msg']
    assert back['found'] and back['host_pid'] == app_pid
    assert not absent['found'] and 'no process with PID 4242' in absent['msg']
