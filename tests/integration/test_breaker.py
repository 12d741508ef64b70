"""Defects found by attacking main: each test states the behaviour the collection promises.

A test marked ``xfail(strict=True)`` fails on main today because of the defect its reason names;
the fix flips it to a pass, and strict mode then makes the suite say so. Tests without the mark
pin a guarantee that holds and that nothing else tested.

Everything runs against the session's private dockerd (tests/support/dockerd.py) with containers
made here, removed here; the attacker's moves inside a container are made either by the
container's own command or, where timing matters, from the host on the very file system the
container writes to (its /dev/shm, its log), which is what the container itself could do.
"""

import ctypes
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import threading
import time
import uuid

import pytest

from tests.integration.test_bad_input import corrupt_config
from tests.integration.test_container_export import changes, describe_changes, snapshot, wait_for_log
from tests.conftest import _session_daemon
from tests.integration import test_playbook
from tests.integration.test_playbook import SIGNER, acquire, custody, manifest, run_fetch_check, verify
from tests.support.ansible_run import HOST_PYTHON, REPO, ansible_env, run_module, run_playbook
from tests.support.images import BASE_TAG, build

pytestmark = pytest.mark.daemon

# The examiner's signing keys and allowed_signers: the fixture of the playbook tests, shared.
keys = test_playbook.keys


def unique(prefix):
    return '%s-%s' % (prefix, uuid.uuid4().hex[:10])


class Made:
    """Containers a test makes on the session daemon; all removed when the test ends."""

    def __init__(self, dockerd):
        self.dockerd = dockerd
        self.ids = []

    def run(self, *args):
        container_id = self.dockerd.docker('run', '-d', '--network', 'none', '--stop-timeout', '1',
                                           '--name', unique('brk'), *args)
        self.ids.append(container_id)
        return container_id

    def stopped(self, command='echo to stdout; echo to stderr >&2', image=BASE_TAG):
        container_id = self.run(image, 'sh', '-c', command)
        assert self.dockerd.docker('wait', container_id, timeout=120) == '0'
        return container_id

    def remove(self):
        for container_id in self.ids:
            self.dockerd.docker('rm', '-f', container_id, check=False)


@pytest.fixture()
def made(dockerd):
    containers = Made(dockerd)
    yield containers
    containers.remove()


def age(path):
    """Set the atime of `path` a day before its mtime: relatime then updates it on the next read."""
    st = os.lstat(path)
    os.utime(path, ns=(st.st_mtime_ns - 86400 * 10 ** 9, st.st_mtime_ns), follow_symlinks=False)


def atimes_below(directory):
    """{path: atime_ns} of `directory` and everything in it on the same file system (O_NOATIME listing)."""
    return dict((path, values[0]) for path, values in snapshot(directory).items())


# -- integrity ------------------------------------------------------------------------------------


def test_verify_refuses_a_file_added_after_sealing_even_when_sha256sums_lists_it(keys, tmp_path):
    """The signed manifest lists every file of the case: a file it does not list was added after sealing,
    whatever the unsigned SHA256SUMS says. Here a forger plants a script in a sealed case and appends
    its line to SHA256SUMS; the manifest and its signature are untouched."""
    digest = __import__('hashlib').sha256(b'good.txt as staged\n').hexdigest()
    rc, output, case_dir = run_fetch_check(keys, tmp_path, [
        {'path': 'good.txt', 'kind': 'test', 'sha256': digest, 'size': 19}])
    assert rc == 0, output[-3000:]
    planted = os.path.join('hosts', 'localhost', 'planted.sh')
    with open(os.path.join(case_dir, planted), 'w') as handle:
        handle.write('#!/bin/sh\necho "evidence the examiner never collected"\n')
    line = subprocess.run(['sha256sum', planted], cwd=case_dir, stdout=subprocess.PIPE, check=True).stdout
    with open(os.path.join(case_dir, 'SHA256SUMS'), 'ab') as handle:
        handle.write(line)
    rc, output = verify(case_dir, keys['allowed_signers'])
    assert rc != 0, 'verify.yml passed a case holding a file the signed manifest does not list'
    assert planted in output


# -- soundness: the Docker root and the containers are never written ------------------------------


# Every host-side module that takes a staging dir: a careless operator points it into the Docker root.
STAGING_MODULES = ['engine_facts', 'container_inspect', 'container_logs', 'process_map', 'process_memory']


@pytest.mark.parametrize('module', STAGING_MODULES + ['staging'])
def test_an_evidence_dir_inside_the_docker_root_is_refused_before_anything_is_written(dockerd, made, module):
    """Writing into the Docker root can overwrite deleted data that is evidence, and changes the root's
    own metadata. container_export refuses it; every module that writes must, before writing anything."""
    container_id = made.run(BASE_TAG, 'sleep', '3600')
    evidence_dir = os.path.join(dockerd.data_root, unique('staging'))
    if module == 'staging':
        args = {'path': evidence_dir, 'case_id': 'IR-1', 'docker_root': dockerd.data_root}
    else:
        args = {'docker_host': dockerd.host, 'evidence_dir': evidence_dir}
        if module != 'engine_facts':
            args['containers'] = [container_id]
    try:
        result = run_module(module, args)
        written = os.path.exists(evidence_dir)
    finally:
        shutil.rmtree(evidence_dir, ignore_errors=True)
    assert not written, '%s wrote into the Docker root at %s' % (module, evidence_dir)
    assert result['failed'] and 'Docker root' in result['msg']


def test_an_evidence_dir_inside_a_containers_writable_layer_never_puts_files_into_the_container(dockerd, made):
    """The worst place for a staging dir: the container's own upper dir. Whatever is written there
    appears inside the container (``docker diff`` lists it) and overwrites its free blocks."""
    container_id = made.stopped()
    upper = dockerd.inspect(container_id)['GraphDriver']['Data']['UpperDir']
    assert dockerd.docker('diff', container_id) == ''
    result = run_module('container_inspect', {'docker_host': dockerd.host, 'containers': [container_id],
                                              'evidence_dir': os.path.join(upper, 'tmp', 'dfir-evidence')})
    diff = dockerd.docker('diff', container_id)
    assert diff == '', 'the module wrote into the container:\n%s' % diff
    assert result['failed']


@pytest.mark.parametrize('module', ['container_inspect', 'container_logs'])
def test_reading_a_container_from_disk_changes_no_atime_under_its_directory(dockerd, made, module, tmp_path):
    """source=disk: the daemon is not asked anything, so any atime that moves is the module's doing.
    The container's directory of the Docker root is evidence (configs, logs); listing a directory
    updates its atime unless it is opened with O_NOATIME, as _safe_io.list_dir does."""
    container_id = made.stopped()
    directory = os.path.join(dockerd.data_root, 'containers', container_id)
    for path in atimes_below(directory):
        age(os.fsdecode(path))
    before = snapshot(directory)
    result = run_module(module, {'source': 'disk', 'docker_root': dockerd.data_root, 'containers': [container_id],
                                 'evidence_dir': str(tmp_path / 'staging')})
    assert not result['failed'], result['msg']
    changed = changes(before, snapshot(directory))
    assert not changed, describe_changes(changed)


def test_collecting_logs_live_with_the_defaults_leaves_the_log_files_atime_as_found(dockerd, made, tmp_path):
    """The log file is evidence; its atime says when it was last read before the incident response.
    The module reads it with O_NOATIME, then, with api_logs (the role's default too), asks the daemon
    for the same log, and the daemon's plain read moves the atime."""
    container_id = made.stopped()
    log_path = dockerd.inspect(container_id)['LogPath']
    age(log_path)
    before = os.lstat(log_path)
    result = run_module('container_logs', {'docker_host': dockerd.host, 'containers': [container_id],
                                           'evidence_dir': str(tmp_path / 'staging')})
    assert not result['failed'], result['msg']
    after = os.lstat(log_path)
    assert (after.st_atime_ns, after.st_mtime_ns) == (before.st_atime_ns, before.st_mtime_ns), \
        'atime of %s moved from %d to %d' % (log_path, before.st_atime_ns, after.st_atime_ns)


class DirectoryWatch:
    """Names created in one directory while the watch is on (inotify, read when stopped)."""

    IN_CREATE, IN_MOVED_TO = 0x100, 0x80

    def __init__(self, directory):
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.fd = self.libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        assert self.fd >= 0 and self.libc.inotify_add_watch(
            self.fd, os.fsencode(directory), self.IN_CREATE | self.IN_MOVED_TO) >= 0, 'inotify failed'

    def created(self):
        data = b''
        while True:
            try:
                chunk = os.read(self.fd, 65536)
            except BlockingIOError:
                break
            if not chunk:
                break
            data += chunk
        os.close(self.fd)
        names, offset = [], 0
        while offset < len(data):
            _wd, _mask, _cookie, length = struct.unpack_from('iIII', data, offset)
            names.append(data[offset + 16:offset + 16 + length].rstrip(b'\0').decode(errors='replace'))
            offset += 16 + length
        return names


def test_collecting_compressed_rotated_logs_live_writes_no_file_into_the_docker_root(dockerd, made, tmp_path):
    """The json-file driver with max-file and compress=true keeps older logs as .gz files. To serve them
    through the Engine API, dockerd decompresses each into a temporary file beside it, in the Docker root:
    new files on the evidence file system, blocks allocated and freed where deleted data may lie. The
    module already copies the .gz files themselves; asking the daemon must write nothing."""
    container_id = made.run('--log-opt', 'max-size=1k', '--log-opt', 'max-file=3', '--log-opt', 'compress=true',
                            BASE_TAG, 'sh', '-c', 'i=0; while [ $i -lt 300 ]; do echo "rotated line $i of 50 bytes '
                            'or so"; i=$((i+1)); done')
    assert dockerd.docker('wait', container_id) == '0'
    directory = os.path.join(dockerd.data_root, 'containers', container_id)
    assert any(name.endswith('.gz') for name in os.listdir(directory))
    watch = DirectoryWatch(directory)
    result = run_module('container_logs', {'docker_host': dockerd.host, 'containers': [container_id],
                                           'evidence_dir': str(tmp_path / 'staging')})
    created = watch.created()
    assert not result['failed'], result['msg']
    assert created == [], 'files created in %s during the run: %s' % (directory, created)


def test_a_symlink_swapped_into_the_containers_shm_never_brings_a_host_file_into_the_case(dockerd, made, tmp_path):
    """With --ipc shareable (Docker's default before 20.10 and a common daemon setting), the container's
    /dev/shm is the tmpfs at containers/<id>/mounts/shm in the host's mount namespace; container_inspect
    copies what it holds as ``container_config``. The container owns that tmpfs: once the module has
    listed ``d/secret`` (a regular file), the container renames ``d`` and puts a symlink to a host
    directory in its place. Opening ``.../shm/d/secret`` by path then reads the host's file. Here the
    host directory holds a marker file named like the planted one; on a real host, /etc and shadow."""
    host_dir = tmp_path / 'host-secrets'
    host_dir.mkdir()
    marker = b'HOST FILE ' + uuid.uuid4().hex.encode() + b'\n'
    (host_dir / 'secret').write_bytes(marker)
    container_id = made.run('--ipc', 'shareable', BASE_TAG, 'sh', '-c',
                            'head -c 40000000 /dev/urandom > /dev/shm/big.bin; mkdir /dev/shm/d; '
                            'echo container file > /dev/shm/d/secret; echo ready; exec sleep 3600')
    wait_for_log(dockerd, container_id, 'ready')
    shm = os.path.join(dockerd.data_root, 'containers', container_id, 'mounts', 'shm')
    assert os.path.isfile(os.path.join(shm, 'd', 'secret')), 'the container\'s /dev/shm is not at %s' % shm
    staging = str(tmp_path / 'staging')
    outcome = {}
    worker = threading.Thread(target=lambda: outcome.update(run_module(
        'container_inspect', {'docker_host': dockerd.host, 'containers': [container_id], 'evidence_dir': staging})))
    worker.start()
    # big.bin is copied before d/secret, after the whole directory was listed: swap d while it is copied.
    copying = os.path.join(staging, 'containers', container_id, 'config', 'mounts', 'shm', 'big.bin.partial')
    deadline = time.time() + 120
    while not os.path.exists(copying) and worker.is_alive() and time.time() < deadline:
        time.sleep(0.001)
    swapped = os.path.exists(copying)
    if swapped:
        os.rename(os.path.join(shm, 'd'), os.path.join(shm, 'd.before'))
        os.symlink(str(host_dir), os.path.join(shm, 'd'))
    worker.join(300)
    assert swapped, 'the module never copied big.bin: %s' % outcome.get('msg')
    leaked = []
    for parent, _dirs, names in os.walk(staging):
        for name in names:
            with open(os.path.join(parent, name), 'rb') as handle:
                if marker in handle.read():
                    leaked.append(os.path.relpath(os.path.join(parent, name), staging))
    assert leaked == [], 'a host file was collected as the container\'s: %s' % leaked


# -- one container never stops the others -------------------------------------------------------------


# Valid JSON, wrong shapes: what a tampered or future-format config on a seized disk can hold.
WRONG_SHAPES = {
    'State is a string': {'State': 'running'},
    'Config is a list': {'Config': ['sh']},
    'Name is a number': {'Name': 5},
}


@pytest.mark.parametrize('shape', sorted(WRONG_SHAPES))
@pytest.mark.parametrize('module', ['engine_facts', 'container_inspect'])
def test_a_config_with_unexpected_json_types_fails_only_that_container(dockerd, made, tmp_path, module, shape):
    """A config that parses but is not shaped like Docker's is that container's problem: it is named, its raw
    files are kept, and every other container is still inventoried and collected."""
    victim = made.stopped()
    bystander = made.stopped()
    document = dict(WRONG_SHAPES[shape], ID=victim)
    args = {'source': 'disk', 'docker_root': dockerd.data_root}
    if module != 'engine_facts':
        args.update(containers=[victim, bystander], evidence_dir=str(tmp_path / 'staging'))
    with corrupt_config(dockerd, victim, json.dumps(document).encode()):
        result = run_module(module, args)
    assert result['failed'] and victim in result['msg']
    assert 'unexpected error' not in result['msg'], result['msg']
    listed = dict((item.get('id'), item) for item in result['containers'])
    assert bystander in listed and not listed[bystander].get('failed') and not listed[bystander].get('config_error')


@pytest.fixture()
def own_dockerd():
    """A private dockerd of this test alone, which the test may kill (the session's daemon is shared)."""
    yield from _session_daemon()


def test_a_daemon_that_dies_during_an_api_log_fails_that_log_and_keeps_every_finished_artifact(own_dockerd, tmp_path):
    """dockerd crashes (here: SIGKILL) while it streams a big container's log. That API log is not
    collected, and says why; every artifact finished before it (the other container's logs, the big
    container's own json-file copy) is complete, hashed, and must be in the result so it is fetched."""
    daemon = own_dockerd
    small = daemon.docker('run', '-d', '--network', 'none', BASE_TAG, 'sh', '-c', 'echo small')
    big = daemon.docker('run', '-d', '--network', 'none', BASE_TAG, 'sh', '-c',
                        'i=0; while [ $i -lt 150 ]; do head -c 1000000 /dev/zero | tr "\\0" a; echo; i=$((i+1)); done')
    for container_id in (small, big):
        assert daemon.docker('wait', container_id, timeout=600) == '0'
    staging = str(tmp_path / 'staging')
    outcome = {}
    worker = threading.Thread(target=lambda: outcome.update(run_module(
        'container_logs', {'docker_host': daemon.host, 'containers': [small, big], 'evidence_dir': staging,
                           'api_logs': 'always'})))
    worker.start()
    streaming = os.path.join(staging, 'containers', big, 'logs', 'api-stdout.log.partial')
    deadline = time.time() + 300
    while worker.is_alive() and time.time() < deadline:
        if os.path.exists(streaming) and os.path.getsize(streaming) > 5 * 1000 * 1000:
            break
        time.sleep(0.005)
    killed = os.path.exists(streaming)
    if killed:
        os.kill(daemon.process.pid, signal.SIGKILL)
    worker.join(300)
    assert killed, 'the API log was never streamed: %s' % outcome.get('msg')
    assert outcome['failed'] and 'unexpected error' not in outcome['msg'], outcome['msg']
    recorded = set(item['path'] for item in outcome['artifacts'])
    finished = ['containers/%s/logs/%s-json.log' % (small, small), 'containers/%s/logs/api-stdout.log' % small,
                'containers/%s/logs/%s-json.log' % (big, big)]
    assert all(os.path.isfile(os.path.join(staging, path)) for path in finished)
    assert [path for path in finished if path not in recorded] == []


def test_the_role_never_deletes_hashed_artifacts_from_the_host_before_they_are_in_the_case(
        dockerd, made, keys, tmp_path):
    """container_inspect runs over two containers; it finishes the first one, then dies on the second (here, a
    config whose Image is a number, read from disk). The first container's inspect.json is complete and
    hashed on the host: it must reach the case, or at least be left on the host, never deleted unseen."""
    first, second = sorted([made.stopped(), made.stopped()])   # disk mode lists containers by id
    path = os.path.join(dockerd.data_root, 'containers', second, 'config.v2.json')
    with open(path, 'rb') as handle:
        config = json.loads(handle.read().decode())
    config['Image'] = 5
    with corrupt_config(dockerd, second, json.dumps(config).encode()):
        rc, output, case_dir, staging = acquire(dockerd, keys, str(tmp_path), dfir_source='disk',
                                                dfir_docker_root=dockerd.data_root, dfir_containers=[first, second],
                                                dfir_collect=['inspect'])
    relpath = os.path.join('containers', first, 'inspect.json')
    in_case = os.path.isfile(os.path.join(case_dir, 'hosts', 'localhost', relpath))
    on_host = os.path.isfile(os.path.join(staging, 'IR-2026-042', relpath))
    assert rc != 0
    assert in_case or on_host, 'the inspect.json of %s was written and hashed, then deleted unfetched' % first


# -- the acquire role tells the truth in the manifest and the custody log ------------------------------


def test_a_filesystem_export_that_fails_leaves_the_host_partial_in_the_sealed_case(dockerd, made, keys, tmp_path):
    """One of the image layers of the container is missing from the Docker root (a damaged disk, a half
    finished docker rmi): container_export fails for it, naming the layer. Inspect and logs succeed.
    The case must not say the host was collected in full, and custody must not say the step succeeded."""
    tag = build(dockerd, 'dfir-test/%s:1' % unique('brk-layer'), 'FROM %s\nRUN echo %s > /unique\n'
                % (BASE_TAG, uuid.uuid4().hex))
    container_id = made.stopped(image=tag)
    layer_dir = dockerd.inspect(tag)['GraphDriver']['Data']['UpperDir']
    moved = layer_dir + '.moved-by-test'
    os.rename(layer_dir, moved)
    try:
        rc, output, case_dir, _staging = acquire(dockerd, keys, str(tmp_path), dfir_containers=[container_id],
                                                 dfir_collect=['inspect', 'logs', 'export'])
    finally:
        os.rename(moved, layer_dir)
        made.remove()
        dockerd.docker('rmi', tag, check=False)
    document = manifest(case_dir)
    (host,) = document['hosts']
    export = [step for step in host['steps'] if step['step'] == 'container_export'][0]
    assert export['failed_containers'], 'the export step recorded no failed container'
    steps = dict((entry['action'], entry) for entry in custody(case_dir))
    assert host['status'] == 'partial', 'manifest says %s although: %s' % (host['status'], export['msg'])
    assert steps['container_export']['result']['failed'] is True
    assert rc != 0 and 'collected with errors' in output


def test_a_dry_run_of_the_acquire_playbook_succeeds_and_writes_nothing(dockerd, made, keys, tmp_path):
    """``ansible-playbook --check`` is how an Ansible user rehearses a run on a live incident: every
    module supports check mode, so the playbook must run through, say what it would collect, and
    create neither the case on the controller nor the staging dir on the host."""
    container_id = made.stopped()
    case_root, staging = str(tmp_path / 'cases'), str(tmp_path / 'staging')
    rc, output = run_playbook(os.path.join(REPO, 'playbooks', 'acquire.yml'), {
        'ansible_connection': 'local', 'ansible_python_interpreter': HOST_PYTHON, 'dfir_docker_host': dockerd.host,
        'dfir_examiner': 'Jane Doe', 'dfir_signer': SIGNER, 'dfir_signing_key': keys['examiner'],
        'dfir_case_root': case_root, 'dfir_case_id': 'IR-DRY-RUN', 'dfir_evidence_dir': staging,
        'dfir_containers': [container_id], 'dfir_collect': ['inspect', 'logs']}, args=['--check'])
    assert not os.path.exists(case_root) and not os.path.exists(staging)
    assert rc == 0, output[-3000:]


def test_custody_records_the_removal_of_the_staging_copy_on_the_host(dockerd, made, keys, tmp_path):
    """Deleting the host's staged copy of the evidence is an action on the suspect host that happens after
    the fetch and before the seal: who removed what, where and when belongs in the custody log."""
    container_id = made.stopped()
    rc, output, case_dir, staging = acquire(dockerd, keys, str(tmp_path), dfir_containers=[container_id],
                                            dfir_collect=['inspect'])
    assert rc == 0, output[-3000:]
    assert not os.path.exists(os.path.join(staging, 'IR-2026-042'))
    removals = [entry for entry in custody(case_dir) if entry['host'] == 'localhost' and 'staging' in entry['action']]
    assert removals, 'custody actions: %s' % [entry['action'] for entry in custody(case_dir)]


# -- guarantees that hold, pinned -----------------------------------------------------------------------


def max_rss_of_module(name, args):
    """Run one module through Ansible in a child Python; return (result, the largest RSS of any process, KiB)."""
    code = ('import json, resource, sys; sys.path.insert(0, %r)\n'
            'from tests.support.ansible_run import run_module\n'
            'result = run_module(%r, json.loads(sys.argv[1]))\n'
            'print(json.dumps({"result": result, "rss": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))\n'
            % (os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), name))
    process = subprocess.run([sys.executable, '-c', code, json.dumps(args)], stdout=subprocess.PIPE,
                             env=ansible_env(), check=True, timeout=900)
    answer = json.loads(process.stdout.decode().strip().splitlines()[-1])
    return answer['result'], answer['rss']


def test_a_256_mib_log_line_and_a_256_mib_file_are_streamed_not_loaded(dockerd, made, tmp_path):
    """A container can make its log and its files as large as it likes: collection holds a chunk at a time.
    The log here is one line of 256 MiB (the json-file driver splits it into 16 KiB messages) and the
    writable layer holds a 256 MiB file; every process of the run stays far below that."""
    size = 256 * 1024 * 1024
    container_id = made.stopped('head -c %d /dev/zero | tr "\\0" a; echo; head -c %d /dev/urandom > /big'
                                % (size, size))
    logs, logs_rss = max_rss_of_module('container_logs', {'docker_host': dockerd.host, 'containers': [container_id],
                                                          'evidence_dir': str(tmp_path / 'logs')})
    assert not logs['failed'], logs['msg']
    log_record = [item for item in logs['artifacts'] if item['kind'] == 'container_log'][0]
    assert log_record['size'] > size
    export, export_rss = max_rss_of_module('container_export', {
        'docker_host': dockerd.host, 'containers': [container_id], 'mode': ['upper'],
        'evidence_dir': str(tmp_path / 'export')})
    assert not export['failed'], export['msg']
    upper = [item for item in export['artifacts'] if item['kind'] == 'container_fs_upper'][0]
    assert upper['size'] > size
    # ansible itself peaks near 56 MiB here; half the artifact's size is far above that and far below it
    assert logs_rss < 128 * 1024 and export_rss < 128 * 1024, (logs_rss, export_rss)


def test_names_in_the_containers_shm_that_are_not_utf8_do_not_lose_the_step(dockerd, made, tmp_path):
    """The container names the files of its /dev/shm at will, bytes that are not UTF-8 included. Ansible
    refuses a module result holding such a name, which lost container_inspect's whole result (every
    container's artifacts) to one container's file name. The file is collected under an escaped name
    that says which bytes it had; a symlink so named is listed in special_files.json."""
    victim = made.run('--ipc', 'shareable', BASE_TAG, 'sh', '-c',
                      'printf "hidden data" > "/dev/shm/$(printf "caf\\351")"; '
                      'ln -s "/tmp/$(printf "\\377")" "/dev/shm/$(printf "ln\\376")"; echo ready; exec sleep 3600')
    bystander = made.stopped()
    wait_for_log(dockerd, victim, 'ready')
    staging = str(tmp_path / 'staging')
    result = run_module('container_inspect', {'docker_host': dockerd.host, 'containers': [victim, bystander],
                                              'evidence_dir': staging})
    assert not result['failed'], result['msg']
    paths = dict((artifact['path'], artifact) for artifact in result['artifacts'])
    assert any(path.startswith('containers/%s/' % bystander) for path in paths), sorted(paths)
    collected = 'containers/%s/config/mounts/shm/caf\\xe9' % victim
    assert collected in paths, sorted(paths)
    with open(os.path.join(staging, collected), 'rb') as handle:
        assert handle.read() == b'hidden data'
    with open(os.path.join(staging, 'containers', victim, 'special_files.json'), 'rb') as handle:
        special = json.loads(handle.read().decode('utf-8'))
    assert any(item['path'] == 'mounts/shm/ln\\xfe' and item.get('target') == '/tmp/\\xff' for item in special), special
