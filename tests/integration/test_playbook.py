"""acquire.yml and verify.yml end to end on the private daemon, checked with the standard tools alone."""

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import uuid

import pytest

from tests.integration.test_bad_input import corrupt_config
from tests.support.ansible_run import HOST_PYTHON, REPO, run_playbook
from tests.support.images import BASE_TAG, build

SIGNER = 'jdoe@example.org'
CASE = 'IR-2026-042'


@pytest.fixture(scope='module')
def keys(tmp_path_factory):
    """The examiner's key (made with ssh-keygen), a passphrase-protected one, and an allowed_signers file."""
    directory = tmp_path_factory.mktemp('keys')
    made = {}
    for name, passphrase in (('examiner', ''), ('protected', 'open sesame'), ('intruder', '')):
        path = str(directory / name)
        subprocess.run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', passphrase, '-C', name, '-f', path],
                       check=True, stdin=subprocess.DEVNULL)
        made[name] = path
    with open(made['examiner'] + '.pub') as handle:
        kind, blob = handle.read().split()[:2]
    made['allowed_signers'] = str(directory / 'allowed_signers')
    with open(made['allowed_signers'], 'w') as handle:
        handle.write('%s namespaces="dfir.docker" %s %s\n' % (SIGNER, kind, blob))
    return made


def acquire(dockerd, keys, workdir, **variables):
    """Run playbooks/acquire.yml on localhost against the private daemon; return (rc, output, case dir, staging root)."""
    extra = {
        'ansible_connection': 'local',
        'ansible_python_interpreter': HOST_PYTHON,
        'dfir_docker_host': dockerd.host,
        'dfir_examiner': 'Jane Doe',
        'dfir_signer': SIGNER,
        'dfir_signing_key': keys['examiner'],
        'dfir_case_root': os.path.join(workdir, 'cases'),
        'dfir_case_id': CASE,
        'dfir_evidence_dir': os.path.join(workdir, 'staging'),
    }
    extra.update(variables)
    rc, output = run_playbook(os.path.join(REPO, 'playbooks', 'acquire.yml'), extra, inventory='localhost,')
    return rc, output, os.path.join(extra['dfir_case_root'], extra['dfir_case_id']), extra['dfir_evidence_dir']


def verify(case_dir, allowed_signers):
    return run_playbook(os.path.join(REPO, 'playbooks', 'verify.yml'),
                        {'dfir_case_dir': case_dir, 'dfir_allowed_signers': allowed_signers})


def sha256_of(path):
    with open(path, 'rb') as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def custody(case_dir):
    with open(os.path.join(case_dir, 'custody.jsonl')) as handle:
        return [json.loads(line) for line in handle]


def manifest(case_dir):
    with open(os.path.join(case_dir, 'manifest.json')) as handle:
        return json.load(handle)


def standard_tools_accept(case_dir, allowed_signers):
    sums = subprocess.run(['sha256sum', '--strict', '-c', 'SHA256SUMS'], cwd=case_dir,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
    with open(os.path.join(case_dir, 'manifest.json'), 'rb') as data:
        signature = subprocess.run(['ssh-keygen', '-Y', 'verify', '-f', allowed_signers, '-I', SIGNER, '-n', 'dfir.docker',
                                    '-s', os.path.join(case_dir, 'manifest.json.sig')],
                                   stdin=data, stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
    return sums, signature


@pytest.fixture(scope='module')
def sealed(dockerd, scenario, keys, tmp_path_factory):
    workdir = str(tmp_path_factory.mktemp('acquire'))
    rc, output, case_dir, staging = acquire(dockerd, keys, workdir)
    assert rc == 0, output[-5000:]
    return case_dir, staging, output


def test_the_case_is_sealed_and_checks_with_sha256sum_and_ssh_keygen(sealed, keys):
    case_dir, _staging, output = sealed
    assert 'case %s sealed' % CASE in output
    sums, signature = standard_tools_accept(case_dir, keys['allowed_signers'])
    assert sums.returncode == 0, sums.stdout.decode() + sums.stderr.decode()
    with open(os.path.join(case_dir, 'SHA256SUMS')) as handle:
        listed = handle.read().splitlines()
    assert sums.stdout.decode().count(': OK\n') == len(listed)
    every_file = [os.path.relpath(os.path.join(parent, name), case_dir)
                  for parent, _dirs, names in os.walk(case_dir) for name in names]
    assert len(listed) == len(every_file) - 1   # everything but SHA256SUMS itself
    assert signature.returncode == 0, signature.stderr.decode()
    assert 'Good "dfir.docker" signature for %s' % SIGNER in signature.stdout.decode() + signature.stderr.decode()


def test_the_manifest_lists_every_artifact_with_matching_source_and_controller_hashes(sealed, scenario):
    case_dir, _staging, _output = sealed
    document = manifest(case_dir)
    assert document['case_id'] == CASE and document['examiner'] == 'Jane Doe'
    assert document['tool']['name'] == 'dfir.docker'
    assert [(host['name'], host['status']) for host in document['hosts']] == [('localhost', 'collected')]
    host_dir = os.path.join(case_dir, 'hosts', 'localhost')
    on_disk = sorted(os.path.relpath(os.path.join(parent, name), case_dir)
                     for parent, _dirs, names in os.walk(host_dir) for name in names)
    listed = sorted(item['path'] for item in document['artifacts'])
    assert listed == [path for path in on_disk if not path.endswith('/collection.json')]
    for item in document['artifacts']:
        digest = sha256_of(os.path.join(case_dir, item['path']))
        assert item['sha256_source'] == item['sha256_controller'] == digest, item['path']
        assert item['size'] == os.path.getsize(os.path.join(case_dir, item['path']))
    for role, truth in scenario.containers.items():
        assert os.path.isfile(os.path.join(host_dir, 'containers', truth['id'], 'inspect.json')), role
        assert os.path.isfile(os.path.join(host_dir, 'containers', truth['id'], 'config', 'config.v2.json')), role
    assert os.path.isfile(os.path.join(host_dir, 'engine.json'))
    assert document['summary']['artifacts'] == len(document['artifacts'])


def test_custody_has_the_open_each_step_the_fetch_and_the_seal(sealed):
    case_dir, _staging, _output = sealed
    entries = custody(case_dir)
    actions = [entry['action'] for entry in entries]
    assert actions[0] == 'case opened' and actions[-1] == 'seal'
    assert actions[1:-1] == ['staging dir created', 'engine_facts', 'process_map', 'container_inspect', 'container_logs',
                             'whiteouts', 'container_changes', 'container_export', 'select containers', 'fetch',
                             'staging dir removed']
    assert all(entry['examiner'] == 'Jane Doe' and entry['when'].endswith('Z') for entry in entries)
    assert all(entry['host'] == 'localhost' for entry in entries[1:-1])
    steps = dict((entry['action'], entry['result']) for entry in entries)
    assert steps['container_inspect']['failed'] is False and steps['container_inspect']['artifacts'] > 0
    assert steps['fetch']['problems'] == []


def test_the_staging_dir_is_removed_after_a_good_transfer(sealed):
    _case_dir, staging, _output = sealed
    assert not os.path.exists(os.path.join(staging, CASE))


def test_verify_yml_passes_an_untouched_case(sealed, keys):
    case_dir, _staging, _output = sealed
    rc, output = verify(case_dir, keys['allowed_signers'])
    assert rc == 0, output[-3000:]
    assert 'verified' in output


@pytest.fixture()
def case_copy(sealed, tmp_path):
    copy = str(tmp_path / 'case')
    shutil.copytree(sealed[0], copy)
    return copy


def test_one_flipped_byte_fails_verify_yml_which_names_the_file(case_copy, keys):
    document = manifest(case_copy)
    victim = [item['path'] for item in document['artifacts'] if item['path'].endswith('/config/hostconfig.json')][0]
    path = os.path.join(case_copy, victim)
    os.chmod(path, 0o640)
    with open(path, 'r+b') as handle:
        handle.seek(10)
        byte = handle.read(1)
        handle.seek(10)
        handle.write(bytes([byte[0] ^ 0x01]))
    rc, output = verify(case_copy, keys['allowed_signers'])
    assert rc != 0
    assert 'FAILED verification' in output and victim in output
    sums, _signature = standard_tools_accept(case_copy, keys['allowed_signers'])
    assert sums.returncode != 0 and ('%s: FAILED' % victim) in sums.stdout.decode()


def test_a_manifest_signed_by_another_key_fails_verify_yml(case_copy, keys):
    signature = os.path.join(case_copy, 'manifest.json.sig')
    os.unlink(signature)
    subprocess.run(['ssh-keygen', '-q', '-Y', 'sign', '-f', keys['intruder'], '-n', 'dfir.docker',
                    os.path.join(case_copy, 'manifest.json')], check=True, stdin=subprocess.DEVNULL)
    # a careful forger rewrites SHA256SUMS too: only the signature can tell
    listed = subprocess.run(['sha256sum', '--'] + sorted(name for name in _relative_files(case_copy) if name != 'SHA256SUMS'),
                            cwd=case_copy, stdout=subprocess.PIPE, check=True).stdout
    with open(os.path.join(case_copy, 'SHA256SUMS'), 'wb') as handle:
        handle.write(listed)
    rc, output = verify(case_copy, keys['allowed_signers'])
    assert rc != 0
    assert 'the signature of manifest.json does not verify for signer %s' % SIGNER in output
    sums, signature_check = standard_tools_accept(case_copy, keys['allowed_signers'])
    assert sums.returncode == 0 and signature_check.returncode != 0


def _relative_files(directory):
    return [os.path.relpath(os.path.join(parent, name), directory)
            for parent, _dirs, names in os.walk(directory) for name in names]


def test_keep_staging_keeps_the_staging_dir_with_what_was_fetched(dockerd, scenario, keys, tmp_path):
    rc, output, case_dir, staging = acquire(dockerd, keys, str(tmp_path), dfir_keep_staging=True,
                                            dfir_containers=['dfir-running'], dfir_collect=['inspect'])
    assert rc == 0, output[-3000:]
    kept = os.path.join(staging, CASE)
    for item in manifest(case_dir)['artifacts']:
        relative = item['path'][len('hosts/localhost/'):]
        assert sha256_of(os.path.join(kept, relative)) == item['sha256_controller']
    assert list(os.listdir(os.path.join(kept, 'containers'))) == [scenario['running']['id']]


@pytest.mark.parametrize('variables, expected', [
    ({'dfir_evidence_dir': 'staging'}, "dfir_evidence_dir 'staging' is not an absolute path"),
    ({'dfir_docker_root': 'var/lib/docker'}, "dfir_docker_root 'var/lib/docker' is not an absolute path"),
    ({'dfir_containers': ['web', '']}, "dfir_containers[1] is '': each entry must be a container id"),
    ({'dfir_docker_host': 'tcp://127.0.0.1:2375'}, "docker_host 'tcp://127.0.0.1:2375' is not supported"),
])
def test_a_host_variable_the_controller_can_judge_stops_the_run_before_any_host_is_touched(
        dockerd, keys, tmp_path, variables, expected):
    rc, output, case_dir, _staging = acquire(dockerd, keys, str(tmp_path), **variables)
    assert rc != 0
    assert 'case not opened, no host was touched: ' in output and expected in output
    assert not os.path.exists(case_dir)
    assert 'Create the staging directory on the host' not in output
    assert not os.path.exists(os.path.join(str(tmp_path), 'staging')) and not os.path.exists(os.path.join(REPO, 'staging'))


def test_a_select_that_returns_names_collects_those_containers(dockerd, scenario, keys, tmp_path):
    wanted = sorted([scenario['running']['id'], scenario['stopped']['id']])
    names = [scenario['running']['name'], scenario['stopped']['name']]
    query = '[?%s].name' % ' || '.join("name == '%s'" % name.lstrip('/') for name in names)
    rc, output, case_dir, _staging = acquire(dockerd, keys, str(tmp_path), dfir_select=query, dfir_collect=['inspect'])
    assert rc == 0, output[-3000:]
    (host,) = manifest(case_dir)['hosts']
    assert host['status'] == 'collected' and host['containers_selected'] == 2
    assert sorted(os.listdir(os.path.join(case_dir, 'hosts', 'localhost', 'containers'))) == wanted


@pytest.mark.parametrize('query, expected', [
    ('[?contains(labels, `1`)]', "dfir_select failed on this host's containers: In function contains(), invalid type"),
    ('[].image', "item(s) that name no container of this host: no container has the id, id prefix or name"),
])
def test_a_select_that_cannot_be_applied_fails_the_host_saying_so_plainly(dockerd, scenario, keys, tmp_path, query, expected):
    rc, output, case_dir, _staging = acquire(dockerd, keys, str(tmp_path), dfir_select=query, dfir_collect=['inspect'])
    assert rc != 0
    (host,) = manifest(case_dir)['hosts']
    assert host['status'] in ('partial', 'failed')
    assert host['reason'].startswith("Stop here when dfir_select cannot be applied to this host's containers: ")
    assert expected in host['reason']
    assert 'Finalization of task args' not in host['reason'] and 'filter plugin' not in host['reason']


@pytest.mark.parametrize('problem', ['missing', 'no passphrase', 'wrong passphrase'])
def test_a_key_that_cannot_sign_stops_the_run_before_any_host_is_touched(dockerd, keys, tmp_path, problem):
    variables = {
        'missing': {'dfir_signing_key': str(tmp_path / 'no-such-key')},
        'no passphrase': {'dfir_signing_key': keys['protected']},
        'wrong passphrase': {'dfir_signing_key': keys['protected'], 'dfir_signing_key_passphrase': 'open says me'},
    }[problem]
    rc, output, case_dir, staging = acquire(dockerd, keys, str(tmp_path), **variables)
    assert rc != 0
    assert 'case not opened, no host was touched' in output
    assert variables['dfir_signing_key'] in output
    assert ('does not exist' if problem == 'missing' else 'passphrase') in output
    assert not os.path.exists(case_dir) and not os.path.exists(staging)


def test_the_passphrase_protected_key_seals_with_its_passphrase(dockerd, scenario, keys, tmp_path):
    with open(keys['protected'] + '.pub') as handle:
        kind, blob = handle.read().split()[:2]
    signers = str(tmp_path / 'allowed_signers')
    with open(signers, 'w') as handle:
        handle.write('%s %s %s\n' % (SIGNER, kind, blob))
    rc, output, case_dir, _staging = acquire(dockerd, keys, str(tmp_path), dfir_signing_key=keys['protected'],
                                             dfir_signing_key_passphrase='open sesame', dfir_collect=['inspect'],
                                             dfir_containers=['dfir-stopped'])
    assert rc == 0, output[-3000:]
    assert 'open sesame' not in output   # no_log keeps it out of the run's output
    _sums, signature = standard_tools_accept(case_dir, signers)
    assert signature.returncode == 0


def test_a_corrupt_config_in_a_disk_run_gives_a_sealed_partial_case_that_records_why(dockerd, scenario, keys, tmp_path):
    broken = scenario['stopped']['id']
    with corrupt_config(dockerd, broken, garbage=b'{"State": {"Running": tru'):
        rc, output, case_dir, _staging = acquire(dockerd, keys, str(tmp_path), dfir_source='disk',
                                                 dfir_docker_root=dockerd.data_root)
    # the host fails at the very end (dfir_fail_on_errors), after the case is sealed
    assert rc != 0
    assert 'localhost was collected with errors' in output
    sums, signature = standard_tools_accept(case_dir, keys['allowed_signers'])
    assert sums.returncode == 0 and signature.returncode == 0
    document = manifest(case_dir)
    (host,) = document['hosts']
    assert host['status'] == 'partial'
    assert broken in host['reason'] and 'corrupt config' in host['reason']
    assert document['summary']['hosts_partial'] == 1
    raw = os.path.join(case_dir, 'hosts', 'localhost', 'containers', broken, 'config', 'config.v2.json')
    with open(raw, 'rb') as handle:
        assert handle.read() == b'{"State": {"Running": tru'
    steps = dict((entry['action'], entry) for entry in custody(case_dir))
    assert steps['engine_facts']['result']['failed'] is True
    assert any(broken in error for error in steps['engine_facts']['result']['errors'])
    assert steps['container_inspect']['result']['failed'] is True
    assert [item['id'] for item in steps['container_inspect']['result']['failed_containers']] == [broken]
    assert steps['seal']['result']['hosts'] == {'localhost': 'partial'}
    # every other container is in the case
    for role, truth in scenario.containers.items():
        if truth['id'] != broken:
            assert os.path.isfile(os.path.join(case_dir, 'hosts', 'localhost', 'containers', truth['id'], 'inspect.json'))


FETCH_PLAYBOOK = '''
- hosts: localhost
  gather_facts: false
  connection: local
  vars:
    ansible_python_interpreter: %(python)s
  tasks:
    - dfir.docker.case_open:
        case_root: "{{ case_root }}"
        case_id: fetch-check
        examiner: Jane Doe
        signing_key: "{{ key }}"
        signer: %(signer)s
      register: case
    - dfir.docker.staging:
        path: "{{ staging }}"
        case_id: fetch-check
      register: made
    - ansible.builtin.copy:
        dest: "{{ staging }}/{{ item }}"
        content: "{{ item }} as staged\\n"
      loop: "{{ staged | default(['good.txt', 'altered.txt']) }}"
    - dfir.docker.evidence_fetch:
        evidence_dir: "{{ staging }}"
        case_dir: "{{ case.case_dir }}"
        examiner: Jane Doe
        staging: "{{ made }}"
        remove_staging: "{{ remove_staging | default(false) }}"
        steps:
          forged_step:
            started_at: "2026-01-01T00:00:00.000000Z"
            artifacts: "{{ artifacts }}"
      register: fetched
      ignore_errors: true
    - dfir.docker.case_seal:
        case_dir: "{{ case.case_dir }}"
        case_id: fetch-check
        examiner: Jane Doe
        signing_key: "{{ key }}"
        signer: %(signer)s
        hosts: [localhost]
'''


def run_fetch_check(keys, tmp_path, artifacts, **variables):
    """Stage files (good.txt and altered.txt, or `staged`), fetch `artifacts` from them, seal; variables go to -e."""
    playbook = str(tmp_path / 'fetch.yml')
    with open(playbook, 'w') as handle:
        handle.write(FETCH_PLAYBOOK % {'python': HOST_PYTHON, 'signer': SIGNER})
    variables.update(case_root=str(tmp_path / 'cases'), key=keys['examiner'], staging=str(tmp_path / 'staging'),
                     artifacts=artifacts)
    rc, output = run_playbook(playbook, variables)
    return rc, output, str(tmp_path / 'cases' / 'fetch-check')


GOOD_SHA256 = hashlib.sha256(b'good.txt as staged\n').hexdigest()


def test_an_artifact_whose_hash_differs_on_the_controller_is_not_kept_and_the_case_is_not_sealed(keys, tmp_path):
    # altered.txt is recorded with good.txt's hash, as if it changed between the host and the controller
    rc, output, case_dir = run_fetch_check(keys, tmp_path, [
        {'path': 'good.txt', 'kind': 'test', 'sha256': GOOD_SHA256, 'size': 19},
        {'path': 'altered.txt', 'kind': 'test', 'sha256': GOOD_SHA256, 'size': 22}])
    assert rc != 0
    assert 'altered.txt: SHA-256 on the controller' in output and 'not kept' in output
    assert 'is NOT sealed' in output and 'altered.txt' in output.split('is NOT sealed', 1)[1]
    assert os.path.isfile(os.path.join(case_dir, 'hosts', 'localhost', 'good.txt'))
    assert not os.path.exists(os.path.join(case_dir, 'hosts', 'localhost', 'altered.txt'))
    assert not os.path.exists(os.path.join(case_dir, 'manifest.json.sig'))
    assert not os.path.exists(os.path.join(case_dir, 'SHA256SUMS'))
    assert custody(case_dir)[-1]['action'] == 'seal refused'


def test_an_artifact_that_never_arrives_leaves_its_host_partial_in_a_sealed_case(keys, tmp_path):
    rc, output, case_dir = run_fetch_check(keys, tmp_path, [
        {'path': 'good.txt', 'kind': 'test', 'sha256': GOOD_SHA256, 'size': 19},
        {'path': 'vanished.txt', 'kind': 'test', 'sha256': GOOD_SHA256, 'size': 19}])
    assert rc == 0, output[-4000:]
    assert 'vanished.txt: transfer failed' in output
    document = manifest(case_dir)
    assert [item['path'] for item in document['artifacts']] == ['hosts/localhost/good.txt']
    (host,) = document['hosts']
    assert host['status'] == 'partial' and 'vanished.txt' in host['reason']
    sums, signature = standard_tools_accept(case_dir, keys['allowed_signers'])
    assert sums.returncode == 0 and signature.returncode == 0


@contextlib.contextmanager
def top_layer_missing(dockerd, command):
    """A stopped container that ran `command` on an image of its own, whose top layer is moved out of the
    Docker root while the context lasts (a damaged disk, a half finished docker rmi); then put back."""
    tag = 'dfir-test/layer-%s:1' % uuid.uuid4().hex[:10]
    build(dockerd, tag, 'FROM %s\nRUN echo %s > /unique\n' % (BASE_TAG, uuid.uuid4().hex))
    container_id = dockerd.docker('run', '-d', '--network', 'none', tag, 'sh', '-c', command)
    layer = dockerd.inspect(tag)['GraphDriver']['Data']['UpperDir']
    try:
        assert dockerd.docker('wait', container_id, timeout=120) == '0'
        os.rename(layer, layer + '.away')
        try:
            yield container_id
        finally:
            os.rename(layer + '.away', layer)
    finally:
        dockerd.docker('rm', '-f', container_id, check=False)
        dockerd.docker('rmi', tag, check=False)


def test_a_whiteouts_and_changes_step_that_fails_leaves_the_host_partial_and_says_so(dockerd, keys, tmp_path):
    """whiteouts and container_changes cannot read the layers below the container and fail for it. Inspect
    still succeeds. Neither the case, nor custody, nor the run may say the host was collected in full."""
    with top_layer_missing(dockerd, 'rm /unique; echo gone > /new') as container_id:
        rc, output, case_dir, _staging = acquire(dockerd, keys, str(tmp_path), dfir_containers=[container_id],
                                                 dfir_collect=['inspect', 'whiteouts', 'changes'])
    document = manifest(case_dir)
    (host,) = document['hosts']
    steps = dict((step['step'], step) for step in host['steps'])
    failed = [name for name in ('whiteouts', 'container_changes') if steps[name].get('failed')]
    assert failed, 'neither step recorded its failure: %s' % [(name, steps[name].get('msg')) for name in steps]
    assert host['status'] == 'partial', 'manifest says %s' % host['status']
    for name in failed:
        assert name in host['reason'] and [item['id'] for item in steps[name]['failed_containers']] == [container_id]
    recorded = dict((entry['action'], entry['result']) for entry in custody(case_dir))
    assert all(recorded[name]['failed'] is True for name in failed)
    assert recorded['container_inspect']['failed'] is False
    assert rc != 0 and 'localhost was collected with errors' in output
    sums, signature = standard_tools_accept(case_dir, keys['allowed_signers'])
    assert sums.returncode == 0 and signature.returncode == 0
