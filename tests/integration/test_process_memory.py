"""process_memory against real engines: cores gdb opens, freeze and thaw, processes that exit mid-dump.

Nothing is mocked: the dumps read real containers' memory; a process is
killed from here while its (rate-limited) dump is running.
"""

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid

import pytest

from tests.support.ansible_run import ansible_env, run_module
from tests.support.elfcore import address_of, gdb, program_headers, readable_maps
from tests.support.images import BASE_TAG

# The marker is the reverse of SEED, made at run time: it is in the shell's
# variables, never in any argv or environment.
MARKER_COMMAND = 'M=$(echo "$SEED" | rev); sleep 1d; echo "$M"'
# dd holds a 24 MiB buffer while it blocks writing to a pipe nobody reads.
BIG_COMMAND = 'dd if=/dev/zero bs=24M count=1 | sleep 1d'


def processes_of(container_id):
    """{host pid: command name} of the processes in the container's cgroup, read from /proc directly."""
    found = {}
    for name in os.listdir('/proc'):
        if not name.isdigit():
            continue
        try:
            with open('/proc/%s/cgroup' % name) as handle:
                if container_id not in handle.read():
                    continue
            with open('/proc/%s/comm' % name) as handle:
                found[int(name)] = handle.read().strip()
        except OSError:
            continue
    return found


def rss_kib(pid):
    with open('/proc/%d/status' % pid) as handle:
        for line in handle:
            if line.startswith('VmRSS:'):
                return int(line.split()[1])
    return 0


def freezer_state(container_id):
    with open('/sys/fs/cgroup/freezer/docker/%s/freezer.state' % container_id) as handle:
        return handle.read().strip()


def sha256_of(path):
    with open(path, 'rb') as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def wait_for(predicate, what, timeout=60, step=0.05):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(step)
    raise AssertionError('timed out waiting for %s' % what)


class Containers:
    """Containers started for one test, removed afterwards."""

    def __init__(self, daemon):
        self.daemon = daemon
        self.names = []

    def run(self, *args, env=None):
        name = 'mem-%s' % uuid.uuid4().hex[:8]
        options = []
        for key, value in (env or {}).items():
            options += ['-e', '%s=%s' % (key, value)]
        self.daemon.docker('run', '-d', '--name', name, '--network', 'none', *options, BASE_TAG, *args)
        self.names.append(name)
        return name, self.daemon.inspect(name)['Id']

    def remove(self):
        for name in self.names:
            self.daemon.docker('unpause', name, check=False)
        if self.names:
            self.daemon.docker('rm', '-f', *self.names, check=False)


@pytest.fixture()
def containers(dockerd):
    started = Containers(dockerd)
    yield started
    started.remove()


def start_marked(started):
    seed = uuid.uuid4().hex
    name, container_id = started.run('sh', '-c', MARKER_COMMAND, env={'SEED': seed})
    wait_for(lambda: sorted(processes_of(container_id).values()) == ['sh', 'sleep'], 'the shell and its sleep')
    return name, container_id, seed[::-1].encode()


def process_entry(result, container_id, host_pid):
    container = next(item for item in result['containers'] if item.get('id') == container_id)
    return next(item for item in container['processes'] if item['host_pid'] == host_pid)


@pytest.mark.parametrize('daemon_fixture', ['dockerd', 'dockerd_remapped'])
def test_the_marker_is_in_the_frozen_dump_and_gdb_opens_every_core(request, daemon_fixture, staging):
    daemon = request.getfixturevalue(daemon_fixture)
    started = Containers(daemon)
    try:
        name, container_id, marker = start_marked(started)
        pids = processes_of(container_id)
        result = run_module('process_memory', {'docker_host': daemon.host, 'containers': [name], 'freeze': True,
                                               'evidence_dir': staging})
        assert not result.get('failed'), result
        after = daemon.inspect(name)['State']
        freezer_after = freezer_state(container_id)
    finally:
        started.remove()

    records = dict((item['path'], item) for item in result['artifacts'])
    shell = next(pid for pid, comm in pids.items() if comm == 'sh')
    sleeper = next(pid for pid, comm in pids.items() if comm == 'sleep')
    base = os.path.join(staging, 'containers', container_id, 'memory')
    for pid in (shell, sleeper):
        entry = process_entry(result, container_id, pid)
        assert entry['status'] == 'dumped', entry
        core = os.path.join(base, '%d.core' % pid)
        relative = os.path.relpath(core, staging)
        assert records[relative]['sha256'] == sha256_of(core) and records[relative]['size'] == os.path.getsize(core)
        code, output = gdb(core)
        assert code == 0 and 'Core was generated by `' in output, output
        # Every readable region of the maps listing beside the core is a PT_LOAD at its address.
        with open(os.path.join(base, '%d.maps' % pid)) as handle:
            maps = handle.read()
        loads = dict((vaddr, memsz) for p_type, _f, _o, vaddr, _fs, memsz in program_headers(core) if p_type == 1)
        assert all(loads.get(start) == end - start for start, end in readable_maps(maps))
        assert readelf_loads(core) == len(maps.splitlines())

    shell_core = os.path.join(base, '%d.core' % shell)
    address = address_of(shell_core, marker)
    assert address is not None, 'the marker is not in the shell\'s memory'
    code, output = gdb(shell_core, 'x/s 0x%x' % address)
    assert code == 0 and marker.decode() in output
    # The sleep exec'd after the fork: its memory holds no copy of the shell's variables.
    assert address_of(os.path.join(base, '%d.core' % sleeper), marker) is None

    freeze, thaw = result['state_changes']
    assert (freeze['action'], freeze['state_before'], freeze['state_after'], freeze['changed']) == ('freeze', 'THAWED', 'FROZEN', True)
    assert (thaw['action'], thaw['state_after'], thaw['ok']) == ('thaw', 'THAWED', True)
    assert freeze['container_id'] == thaw['container_id'] == container_id and freeze['at'] < thaw['at']
    assert after['Running'] and not after['Paused'] and freezer_after == 'THAWED'


def readelf_loads(core):
    output = subprocess.run(['readelf', '-lW', core], stdout=subprocess.PIPE, check=True).stdout.decode()
    return sum(1 for line in output.splitlines() if line.strip().startswith('LOAD '))


def test_a_paused_container_is_dumped_and_left_paused(dockerd, containers, staging):
    name, container_id, marker = start_marked(containers)
    dockerd.docker('pause', name)
    result = run_module('process_memory', {'docker_host': dockerd.host, 'containers': [name], 'freeze': True,
                                           'evidence_dir': staging})
    assert not result.get('failed'), result
    (event,) = result['state_changes']
    assert event['action'] == 'freeze' and not event['changed'] and 'left so' in event['msg']
    assert freezer_state(container_id) == 'FROZEN' and dockerd.inspect(name)['State']['Paused']
    shell = next(pid for pid, comm in processes_of(container_id).items() if comm == 'sh')
    assert address_of(os.path.join(staging, 'containers', container_id, 'memory', '%d.core' % shell), marker)


def test_check_mode_reports_the_size_and_max_bytes_refuses_before_writing(dockerd, containers, staging):
    name, container_id, _marker = start_marked(containers)
    planned = run_module('process_memory', {'docker_host': dockerd.host, 'containers': [name], 'freeze': True,
                                            'evidence_dir': staging}, check_mode=True)
    assert not planned.get('failed'), planned
    cores = [item for item in planned['artifacts'] if item['kind'] == 'process_core']
    assert len(cores) == 2 and all(item['planned'] and item['size'] > 0 for item in cores)
    assert planned['planned_bytes'] == sum(item['size'] for item in cores)
    assert planned['state_changes'] == [] and freezer_state(container_id) == 'THAWED'
    assert not os.path.exists(staging)

    refused = run_module('process_memory', {'docker_host': dockerd.host, 'containers': [name],
                                            'evidence_dir': staging, 'max_bytes': 4096})
    assert refused['failed'] and 'more than max_bytes (4096)' in refused['msg']
    assert refused['planned_bytes'] == planned['planned_bytes']
    written = [name for _parent, _dirs, files in os.walk(staging) for name in files if not name.startswith('.')]
    assert written == []


def start_big(started):
    name, container_id = started.run('sh', '-c', BIG_COMMAND)
    wait_for(lambda: 'dd' in processes_of(container_id).values(), 'dd')
    dd = next(pid for pid, comm in processes_of(container_id).items() if comm == 'dd')
    wait_for(lambda: rss_kib(dd) > 20 * 1024, 'dd to fill its buffer')
    return name, container_id, dd


def dump_in_background(daemon, name, staging):
    """Run a slow (rate-limited) dump in a thread; return (thread, box holding its result)."""
    box = {}
    args = {'docker_host': daemon.host, 'containers': [name], 'evidence_dir': staging, 'max_rate': 4000000}
    thread = threading.Thread(target=lambda: box.update(result=run_module('process_memory', args)))
    thread.start()
    return thread, box


def test_a_process_that_exits_mid_dump_leaves_no_partial_core_and_is_reported(dockerd, containers, staging):
    name, container_id, dd = start_big(containers)
    base = os.path.join(staging, 'containers', container_id, 'memory')
    partial = os.path.join(base, '%d.core.partial' % dd)
    thread, box = dump_in_background(dockerd, name, staging)
    wait_for(lambda: os.path.exists(partial), 'the dump of dd to start', timeout=120)
    os.kill(dd, signal.SIGKILL)
    thread.join(600)
    result = box['result']
    assert not result.get('failed'), result
    entry = process_entry(result, container_id, dd)
    assert entry['status'] == 'exited' and 'the partial core' in entry['msg'] and 'was removed' in entry['msg']
    assert not os.path.exists(partial) and not os.path.exists(os.path.join(base, '%d.core' % dd))
    assert os.path.exists(os.path.join(base, '%d.maps' % dd))
    assert all(not item['path'].endswith('/%d.core' % dd) for item in result['artifacts'])
    others = [item for item in next(c for c in result['containers'] if c.get('id') == container_id)['processes']
              if item['host_pid'] != dd]
    assert len(others) == 2 and all(item['status'] == 'dumped' for item in others)
    for item in others:
        assert gdb(os.path.join(staging, item['core']))[0] == 0


def test_a_container_that_stops_mid_dump_is_reported_without_partial_files(dockerd, containers, staging):
    name, container_id, dd = start_big(containers)
    partial = os.path.join(staging, 'containers', container_id, 'memory', '%d.core.partial' % dd)
    thread, box = dump_in_background(dockerd, name, staging)
    wait_for(lambda: os.path.exists(partial), 'the dump of dd to start', timeout=120)
    dockerd.docker('kill', name)
    thread.join(600)
    result = box['result']
    assert not result.get('failed'), result
    outcome = next(item for item in result['containers'] if item.get('id') == container_id)
    statuses = dict((item['host_pid'], item['status']) for item in outcome['processes'])
    assert statuses[dd] == 'exited'
    assert set(statuses.values()) <= {'dumped', 'exited'}
    leftovers = [name for _parent, _dirs, files in os.walk(staging) for name in files if name.endswith('.partial')]
    assert leftovers == []
    for item in outcome['processes']:
        if item['status'] == 'dumped':
            assert gdb(os.path.join(staging, item['core']))[0] == 0


def start_frozen_dump(daemon, name, container_id, dd, staging, stdout):
    """The module itself, run directly (so that a signal reaches exactly it), freezing and slowly dumping.

    Returns once the dump of dd has begun, with the container frozen: (module process, partial core path).
    """
    args = {'docker_host': daemon.host, 'containers': [name], 'evidence_dir': staging, 'freeze': True,
            'max_rate': 2000000}
    module = subprocess.Popen([sys.executable, '-m', 'ansible_collections.dfir.docker.plugins.modules.process_memory'],
                              stdin=subprocess.PIPE, stdout=stdout, stderr=subprocess.DEVNULL, cwd='/', env=ansible_env())
    module.stdin.write(json.dumps({'ANSIBLE_MODULE_ARGS': args}).encode())
    module.stdin.close()
    partial = os.path.join(staging, 'containers', container_id, 'memory', '%d.core.partial' % dd)
    try:
        wait_for(lambda: os.path.exists(partial), 'the dump of dd to start', timeout=120)
        assert freezer_state(container_id) == 'FROZEN'
    except BaseException:
        module.kill()
        module.wait()
        raise
    return module, partial


def test_a_module_interrupted_while_the_container_is_frozen_thaws_it(dockerd, containers, staging):
    name, container_id, dd = start_big(containers)
    module, partial = start_frozen_dump(dockerd, name, container_id, dd, staging, subprocess.PIPE)
    try:
        module.send_signal(signal.SIGTERM)
        output = module.stdout.read()
        module.wait(120)
    finally:
        if module.poll() is None:
            module.kill()
            module.wait()
    result = json.loads(output.decode())
    assert result['failed'] and 'interrupted by signal %d' % signal.SIGTERM in result['msg']
    assert [event['action'] for event in result['state_changes']] == ['freeze', 'thaw']
    assert result['state_changes'][1]['ok'] and freezer_state(container_id) == 'THAWED'
    assert not os.path.exists(partial)


def test_a_module_killed_outright_while_the_container_is_frozen_still_thaws_it(dockerd, containers, staging):
    name, container_id, dd = start_big(containers)
    module, _partial = start_frozen_dump(dockerd, name, container_id, dd, staging, subprocess.DEVNULL)
    # SIGKILL: no handler runs, no finally; only the guard process can thaw.
    module.kill()
    module.wait(60)
    try:
        wait_for(lambda: freezer_state(container_id) == 'THAWED', 'the guard to thaw the container', timeout=30)
    finally:
        if freezer_state(container_id) != 'THAWED':
            # The test failed: thaw here, or the container could never be removed.
            with open('/sys/fs/cgroup/freezer/docker/%s/freezer.state' % container_id, 'w') as handle:
                handle.write('THAWED')
