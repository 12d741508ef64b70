"""The harness itself: a private daemon answers and the offline base image runs; a fleet stops whole."""

import glob
import os
import pwd
import subprocess
import time
import uuid

import pytest

from tests.support import fleet
from tests.support.ansible_run import ansible_bin, ansible_env, run_module
from tests.support.dockerd import make_base


def test_private_daemon_runs_the_offline_base_image(dockerd):
    output = dockerd.docker('run', '--rm', '--network', 'none', 'dfir-test/base:1', 'sh', '-c', 'echo hello; id -u')
    assert output.split() == ['hello', '0']


def test_engine_facts_runs_through_ansible_against_it(dockerd):
    result = run_module('engine_facts', {'docker_host': dockerd.host})
    assert not result.get('failed'), result
    assert result['engine']['docker_root'] == dockerd.data_root


def fleet_leftovers(base, home, uid, marker, recorded):
    """Live processes that belong to a fleet: recorded before it stopped (same pid and start time), run
    by its login user, naming its directory or the login user's home (Ansible's remote tmp), or carrying
    the test's marker in their environment. Processes in containers (another PID namespace) are not."""
    found = {}
    own_namespace = os.readlink('/proc/self/ns/pid')
    for entry in os.listdir('/proc'):
        if not entry.isdigit() or not fleet.alive(entry):
            continue
        pid = int(entry)
        try:
            # a container's process may run as the login user's uid (the demo's app is 1001): not the fleet's
            if os.readlink('/proc/%d/ns/pid' % pid) != own_namespace:
                continue
            with open('/proc/%d/status' % pid) as handle:
                uids = [line.split()[1:] for line in handle if line.startswith('Uid:')][0]
            with open('/proc/%d/environ' % pid, 'rb') as handle:
                environ = handle.read()
        except (OSError, IndexError):
            continue
        command = fleet.cmdline(pid)
        stat = fleet.proc_stat(pid)
        if (stat and recorded.get(pid) == stat[2]) or str(uid) in uids or base in command \
                or home + '/' in command or marker.encode() in environ:
            found[pid] = command
    return found


def test_a_stopped_fleet_leaves_no_process_behind(tmp_path):
    """A become command that finished, one cut mid-way and a detached async job: after stop(), nothing
    of the fleet runs, on the host side (sessions, sudo, jobs) or the controller's (ControlPersist masters)."""
    if os.geteuid() != 0:
        pytest.fail('the fleet runs as root: it starts sshd and dockerd')
    marker = 'DFIR_FLEET_SMOKE=%s' % uuid.uuid4().hex
    base = make_base('dfir-fleet-smoke-')
    hosts = fleet.Fleet(base, 1, first_octet=12)
    payloads = set(glob.glob(fleet.MODULE_PAYLOADS))
    hosts.start()
    running = None
    try:
        try:
            host = hosts.hosts[0]
            inventory = hosts.write_inventory(os.path.join(base, 'inventory.yml'))
            uid = pwd.getpwnam(fleet.LOGIN_USER).pw_uid
            home = pwd.getpwnam(fleet.LOGIN_USER).pw_dir
            if hosts.created_user:
                # it takes no subordinate id range (that would move the one dockremap gets later)
                for path in ('/etc/subuid', '/etc/subgid'):
                    if os.path.exists(path):
                        with open(path) as handle:
                            assert not [line for line in handle if line.startswith(fleet.LOGIN_USER + ':')], path

            def adhoc(*args):
                return [ansible_bin('ansible'), '-i', inventory, host.name, '-b', '-m', 'ansible.builtin.command'] + list(args)
            done = subprocess.run(adhoc('-a', 'id -u'), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=ansible_env(),
                                  timeout=300, check=False)
            assert done.returncode == 0 and '>>\n0' in done.stdout.decode(), done.stdout.decode()[-3000:]
            detached = subprocess.run(adhoc('-B', '600', '-P', '0', '-a', 'env %s sleep 600' % marker), stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, env=ansible_env(), timeout=300, check=False)
            assert detached.returncode == 0 and 'ansible_job_id' in detached.stdout.decode(), detached.stdout.decode()[-3000:]
            running = subprocess.Popen(adhoc('-a', 'env %s sleep 601' % marker), stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL, env=ansible_env())
            deadline = time.time() + 120
            sleeps = []
            while time.time() < deadline and sorted(sleeps) != ['sleep 600', 'sleep 601']:
                time.sleep(0.5)
                before = fleet_leftovers(base, home, uid, marker, {})
                sleeps = [command for command in before.values() if command.startswith('sleep 60')]
            # what must end: both become commands, sudo, the login sessions and a ControlPersist master
            assert sorted(sleeps) == ['sleep 600', 'sleep 601'], before
            assert any(command.startswith('sudo ') for command in before.values()), before
            sessions = [pid for pid, command in before.items() if command.startswith('sshd: %s' % fleet.LOGIN_USER)]
            assert sessions, before
            assert any(command.startswith('ssh: %s/' % host.control_dir) for command in before.values()), before
            # the async job has left its session (async_wrapper daemonizes it): no session process is above it
            (job,) = [pid for pid, command in before.items() if command == 'sleep 600']
            assert not any(job in fleet.descendants(pid) for pid in sessions)
            recorded = dict((pid, fleet.proc_stat(pid)[2]) for pid in list(before) + [host.sshd_process.pid]
                            + fleet.descendants(host.sshd_process.pid) if fleet.proc_stat(pid))
        finally:
            try:
                hosts.stop()
            finally:
                if running is not None:
                    try:
                        running.wait(timeout=60)
                    except subprocess.TimeoutExpired:
                        running.kill()
                        running.wait()
        # nothing is reaped late: what is left now is left for good
        assert fleet_leftovers(base, home, uid, marker, recorded) == {}
        # nor the unpacked payloads of the two commands it cut
        assert set(glob.glob(fleet.MODULE_PAYLOADS)) - payloads == set()
        assert running.returncode != 0   # its host went away mid-command
    finally:
        hosts.cleanup()
