"""acquire.yml and triage.yml over a fleet reached by real SSH: one case, every host's outcome and why.

Three hosts on loopback, each an sshd paired with its own dockerd (tests/support/fleet.py), and a
fourth inventory entry whose SSH port is wrong. docker3's daemon is stopped before the runs, so
`source: auto` reads its Docker root from disk. Ground truth comes from planting
(tests/support/fleet_scenario.py), the engine's own CLI and the files under each data root.
"""

import glob
import hashlib
import json
import os
import re
import socket
import subprocess
import threading
import time

import pytest

from tests.integration.test_playbook import SIGNER, custody, manifest, standard_tools_accept
from tests.support.ansible_run import REPO, run_playbook
from tests.support.dockerd import make_base
from tests.support.fleet import Fleet
from tests.support.fleet_scenario import EXPLOIT_LINE, JOB_LINES, diff_counts, plant
from tests.support.images import BASE_TAG

NGINX_OR_STOPPED = "[?contains(image, 'nginx') || !running]"
RUNNING_NGINX = "[?running && contains(image, 'nginx')]"


def closed_port(address):
    """A TCP port on `address` where nothing listens (connections are refused)."""
    with socket.socket() as probe:
        probe.bind((address, 0))
        return probe.getsockname()[1]


class FleetCase:
    """The fleet, what was planted on each host, the inventory and the examiner's key."""

    def __init__(self, fleet, truth, inventory, key, allowed_signers, workdir, badport):
        self.fleet = fleet
        self.badport = badport
        self.truth = truth
        self.inventory = inventory
        self.key = key
        self.allowed_signers = allowed_signers
        self.workdir = workdir

    def run(self, playbook, case_id, limit=None, forks=4, **variables):
        """Run a collection playbook over the fleet; return (rc, output, case dir)."""
        extra = {'dfir_examiner': 'Jane Doe', 'dfir_signer': SIGNER, 'dfir_signing_key': self.key,
                 'dfir_case_root': os.path.join(self.workdir, 'cases'), 'dfir_case_id': case_id}
        extra.update(variables)
        args = ['-f', str(forks)] + (['-l', limit] if limit else [])
        rc, output = run_playbook(os.path.join(REPO, 'playbooks', playbook), extra, inventory=self.inventory, args=args)
        return rc, output, os.path.join(extra['dfir_case_root'], case_id)


@pytest.fixture(scope='module')
def fleet_case(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.fail('the fleet tests run as root: they start sshd and dockerd per host')
    base = make_base('dfir-fleet-')
    fleet = Fleet(base, 3)
    fleet.start()
    try:
        truth = {
            'docker1': plant(fleet.host('docker1'), dropper=True, host_pid=True),
            'docker2': plant(fleet.host('docker2'), idle=20),
            'docker3': plant(fleet.host('docker3')),
        }
        # A host whose daemon is down: its containers stop with it and are read from its Docker root.
        stopped = fleet.host('docker3').dockerd
        stopped.stop()
        docker1 = fleet.host('docker1')
        badport = dict(docker1.inventory_vars(fleet.client_key), ansible_port=closed_port(docker1.address))
        inventory = fleet.write_inventory(os.path.join(base, 'inventory.yml'), extra_hosts={'badport': badport},
                                          host_vars={'docker3': {'dfir_docker_root': stopped.data_root}})
        workdir = str(tmp_path_factory.mktemp('fleet'))
        key = os.path.join(workdir, 'examiner')
        subprocess.run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', 'examiner', '-f', key], check=True,
                       stdin=subprocess.DEVNULL)
        with open(key + '.pub') as handle:
            kind, blob = handle.read().split()[:2]
        allowed_signers = os.path.join(workdir, 'allowed_signers')
        with open(allowed_signers, 'w') as handle:
            handle.write('%s namespaces="dfir.docker" %s %s\n' % (SIGNER, kind, blob))
        yield FleetCase(fleet, truth, inventory, key, allowed_signers, workdir, badport['ansible_port'])
    finally:
        fleet.stop()
        fleet.cleanup()


@pytest.fixture(scope='module')
def acquired(fleet_case):
    rc, output, case_dir = fleet_case.run('acquire.yml', 'IR-FLEET-1', dfir_select=NGINX_OR_STOPPED,
                                          dfir_collect=['process_map', 'inspect', 'logs'])
    return rc, output, case_dir


def host_entry(document, name):
    (entry,) = [host for host in document['hosts'] if host['name'] == name]
    return entry


def test_one_case_is_sealed_for_the_fleet_and_checks_with_standard_tools(acquired, fleet_case):
    rc, output, case_dir = acquired
    # badport fails the run at its very end (dfir_fail_on_errors), after the case is sealed
    assert rc != 0, output[-5000:]
    assert 'case IR-FLEET-1 sealed' in output
    assert sorted(os.listdir(case_dir)) == ['SHA256SUMS', 'custody.jsonl', 'hosts', 'manifest.json', 'manifest.json.sig']
    sums, signature = standard_tools_accept(case_dir, fleet_case.allowed_signers)
    assert sums.returncode == 0, sums.stdout.decode() + sums.stderr.decode()
    assert signature.returncode == 0, signature.stderr.decode()
    assert sorted(os.listdir(os.path.join(case_dir, 'hosts'))) == ['docker1', 'docker2', 'docker3']


def test_every_host_has_a_status_and_the_unreachable_one_says_why(acquired, fleet_case):
    rc, output, case_dir = acquired
    document = manifest(case_dir)
    statuses = dict((host['name'], host['status']) for host in document['hosts'])
    assert statuses == {'docker1': 'collected', 'docker2': 'collected', 'docker3': 'collected', 'badport': 'failed'}
    badport = host_entry(document, 'badport')
    assert 'Connection refused' in badport['reason'] and 'port %d' % fleet_case.badport in badport['reason'], badport['reason']
    assert document['summary']['hosts_failed'] == 1 and document['summary']['hosts_collected'] == 3
    lost = [entry for entry in custody(case_dir) if entry['action'] == 'host not collected']
    assert [(entry['host'], entry['result']['status']) for entry in lost] == [('badport', 'failed')]
    # the run's summary says it too
    assert re.search(r'"badport: failed, 0 artifact\(s\) - [^"]*Connection refused', output), output[-4000:]
    assert '"docker1: collected' in output


def test_the_selected_containers_of_each_host_are_under_their_full_ids(acquired, fleet_case):
    _rc, _output, case_dir = acquired
    for host in ('docker1', 'docker2', 'docker3'):
        truth = fleet_case.truth[host]
        collected = sorted(os.listdir(os.path.join(case_dir, 'hosts', host, 'containers')))
        # nginx (running on docker1 and docker2) and the stopped job; on docker3 every container was stopped
        expected = [truth['web']['id'], truth['job']['id']]
        assert collected == sorted(expected), host
        for container_id in expected:
            assert os.path.isfile(os.path.join(case_dir, 'hosts', host, 'containers', container_id, 'inspect.json'))
        with open(os.path.join(case_dir, 'hosts', host, 'collection.json')) as handle:
            assert sorted(json.load(handle)['selected_containers']) == sorted(expected)


def test_the_incident_line_is_in_the_collected_log(acquired, fleet_case):
    _rc, _output, case_dir = acquired
    web = fleet_case.truth['docker1']['web']['id']
    logs = glob.glob(os.path.join(case_dir, 'hosts', 'docker1', 'containers', web, 'logs', '*-json.log*'))
    assert logs, 'no json-file log of %s in the case' % web

    def logged_lines(path):
        # json-file keeps each line as a JSON object: its "log" is the text the process wrote
        with open(path, 'rb') as handle:
            return [json.loads(line)['log'] for line in handle if line.strip()]
    assert any(EXPLOIT_LINE in line for path in logs for line in logged_lines(path)), logs


def test_a_host_whose_daemon_is_stopped_is_read_from_its_docker_root(acquired, fleet_case):
    _rc, _output, case_dir = acquired
    host_dir = os.path.join(case_dir, 'hosts', 'docker3')
    with open(os.path.join(host_dir, 'engine.json')) as handle:
        report = json.load(handle)
    assert report['engine']['source'] == 'disk'
    assert any('no Docker daemon answered' in warning for warning in report['warnings'])
    job = fleet_case.truth['docker3']['job']['id']
    on_disk = os.path.join(fleet_case.fleet.host('docker3').dockerd.data_root, 'containers', job, '%s-json.log' % job)
    collected = os.path.join(host_dir, 'containers', job, 'logs', '%s-json.log' % job)
    with open(on_disk, 'rb') as source, open(collected, 'rb') as copy:
        original = source.read()
        assert hashlib.sha256(copy.read()).hexdigest() == hashlib.sha256(original).hexdigest()
    assert all(line.encode() in original for line in JOB_LINES)


def test_a_selection_that_matches_nothing_on_a_host_is_recorded_not_failed(fleet_case):
    rc, output, case_dir = fleet_case.run('acquire.yml', 'IR-FLEET-2', limit='docker1,docker2,docker3',
                                          dfir_select=RUNNING_NGINX, dfir_collect=['inspect'])
    assert rc == 0, output[-5000:]
    document = manifest(case_dir)
    docker3 = host_entry(document, 'docker3')
    assert docker3['status'] == 'collected' and docker3['containers_selected'] == 0
    assert docker3['note'] == 'the selection matched no container on this host'
    with open(os.path.join(case_dir, 'hosts', 'docker3', 'collection.json')) as handle:
        assert json.load(handle)['selected_containers'] == []
    notes = [entry['result'] for entry in custody(case_dir)
             if entry['action'] == 'select containers' and entry['host'] == 'docker3']
    assert notes == [{'selected': 0, 'containers': [], 'note': 'the selection matched no container on this host'}]
    assert host_entry(document, 'docker1')['containers_selected'] == 1
    assert os.listdir(os.path.join(case_dir, 'hosts', 'docker1', 'containers')) == [fleet_case.truth['docker1']['web']['id']]


def test_a_jmespath_that_does_not_parse_stops_the_run_before_any_host_is_touched(fleet_case, tmp_path):
    staging = str(tmp_path / 'never-created')
    rc, output, case_dir = fleet_case.run('acquire.yml', 'IR-FLEET-BAD', dfir_select="[?running && contains(image, 'nginx')",
                                          dfir_evidence_dir=staging)
    assert rc != 0
    assert 'case not opened, no host was touched' in output and 'is not a valid JMESPath expression' in output
    assert not os.path.exists(case_dir) and not os.path.exists(staging)
    for host in fleet_case.fleet.hosts:
        assert not glob.glob(os.path.join(host.evidence_dir, 'IR-FLEET-BAD*'))
    # no task but the controller-side ones ran: nothing reached a host
    assert 'Create the staging directory' not in output


def task_banners(output):
    return [line for line in output.splitlines() if line.startswith('TASK [')]


def test_the_number_of_tasks_does_not_grow_with_the_number_of_containers(fleet_case):
    one = fleet_case.run('acquire.yml', 'IR-FLEET-ONE', limit='docker2', dfir_containers=['web'], dfir_collect=['inspect'])
    many = fleet_case.run('acquire.yml', 'IR-FLEET-MANY', limit='docker2', dfir_collect=['inspect'])
    for rc, output, _case_dir in (one, many):
        assert rc == 0, output[-4000:]
    assert len(os.listdir(os.path.join(one[2], 'hosts', 'docker2', 'containers'))) == 1
    assert len(os.listdir(os.path.join(many[2], 'hosts', 'docker2', 'containers'))) == len(fleet_case.truth['docker2'])
    assert task_banners(one[1]) == task_banners(many[1])


def test_triage_summarizes_every_container_with_its_change_counts(fleet_case):
    rc, output, case_dir = fleet_case.run('triage.yml', 'IR-FLEET-TRIAGE')
    assert rc != 0  # badport
    sums, signature = standard_tools_accept(case_dir, fleet_case.allowed_signers)
    assert sums.returncode == 0 and signature.returncode == 0
    with open(os.path.join(case_dir, 'triage.json')) as handle:
        triage = json.load(handle)
    assert 'triage.json' in manifest(case_dir)['files']
    hosts = dict((host['name'], host) for host in triage['hosts'])
    assert hosts['badport']['status'] == 'failed' and 'Connection refused' in hosts['badport']['reason']
    assert hosts['docker3']['engine']['source'] == 'disk'
    rows = dict(((row['host'], row['name']), row) for row in triage['containers'])
    docker1 = fleet_case.fleet.host('docker1').dockerd
    # container_changes lists at least what docker diff lists (a directory overlay copied up is a change
    # for it even when docker diff leaves it out); web's changes are known exactly by construction.
    for role in ('web', 'dropper', 'job', 'tooling'):
        counted, daemon = rows[('docker1', role)]['changes'], diff_counts(docker1, fleet_case.truth['docker1'][role]['id'])
        assert all(counted[kind] >= daemon[kind] for kind in ('added', 'changed', 'deleted')), (role, counted, daemon)
    web = {'added': 2, 'changed': 1, 'deleted': 0, 'total': 3}   # A /tmp/.cache, A /tmp/.cache/kdevtmpfsi, C /tmp
    assert rows[('docker1', 'web')]['changes'] == web == diff_counts(docker1, fleet_case.truth['docker1']['web']['id'])
    assert 'pid=host' in rows[('docker1', 'tooling')]['signals']
    assert any(signal.startswith('deleted executable /tmp/sleep') for signal in rows[('docker1', 'dropper')]['signals'])
    assert rows[('docker1', 'web')]['processes'] == 1 and rows[('docker1', 'job')]['processes'] == 0
    # the daemon of docker3 is down: its layers are read from disk; its web container ran the same command
    assert rows[('docker3', 'web')]['changes'] == web
    assert len([row for row in triage['containers'] if row['host'] == 'docker2']) == len(fleet_case.truth['docker2'])
    # containers with signals come first, in triage.json and in the closing table
    counts = [len(row['signals']) for row in triage['containers']]
    assert counts == sorted(counts, reverse=True) and counts[0] > 0
    table = output[output.index('host             container'):].splitlines()
    assert 'dropper' in table[1] and 'tooling' in table[2], table[:4]
    # metadata only: no logs and no memory in a triage case
    kinds = set(item['kind'] for item in manifest(case_dir)['artifacts'])
    assert 'container_log' not in kinds and 'process_core' not in kinds and 'container_changes_report' in kinds
    assert 'filesystem_export' not in kinds and not any('export' in kind for kind in kinds)


def test_a_host_lost_mid_way_is_recorded_and_the_others_are_sealed(fleet_case):
    docker2 = fleet_case.fleet.host('docker2')
    # A slow memory dump (24 MiB at 2 MB/s) keeps docker2 busy while its SSH goes away.
    big = docker2.dockerd.docker('run', '-d', '--network', 'none', '--stop-timeout', '1', '--name', 'big', BASE_TAG,
                                 'sh', '-c', 'dd if=/dev/zero bs=24M count=1 | sleep 1d')
    box = {}
    runner = threading.Thread(target=lambda: box.update(result=fleet_case.run(
        'acquire.yml', 'IR-FLEET-LOST', limit='docker1,docker2', dfir_select="[?name == 'big' || name == 'web']",
        dfir_collect=['process_map', 'process_memory', 'inspect'], dfir_memory_max_rate=2000000,
        dfir_progress_interval=2)))
    runner.start()
    try:
        # Cut when the dump has written a few MiB: step_progress reads the staging dir at once, so
        # its first progress line is out by then.
        partial = os.path.join(docker2.evidence_dir, 'IR-FLEET-LOST', 'containers', big, 'memory', '*.core.partial')
        deadline = time.time() + 240
        while time.time() < deadline and runner.is_alive() and not any(
                os.path.getsize(path) > 4 << 20 for path in glob.glob(partial) if os.path.exists(path)):
            time.sleep(0.2)
        assert glob.glob(partial), 'the memory dump on docker2 never got going'
        docker2.stop_sshd()
        runner.join(timeout=600)
    finally:
        if docker2.sshd_process is None:
            docker2.start_sshd(docker2.port)
    rc, output, case_dir = box['result']
    assert rc != 0
    assert 'memory dump running' in output  # the progress lines of the long step, before the host went away
    document = manifest(case_dir)
    assert host_entry(document, 'docker1')['status'] == 'collected'
    lost = host_entry(document, 'docker2')
    assert lost['status'] in ('failed', 'partial') and 'Connection refused' in lost['reason'], lost
    sums, signature = standard_tools_accept(case_dir, fleet_case.allowed_signers)
    assert sums.returncode == 0 and signature.returncode == 0
    # what docker2 staged stays there: the role never removes a staging dir after a host failed
    assert os.path.isdir(os.path.join(docker2.evidence_dir, 'IR-FLEET-LOST'))
