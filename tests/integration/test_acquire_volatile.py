"""The acquire role collects processes and memory before anything else, and logs the freeze in custody."""

import json
import os
import subprocess
import uuid

from tests.support.ansible_run import REPO, run_playbook
from tests.support.images import BASE_TAG


def test_processes_and_memory_come_first_and_freeze_and_thaw_are_in_custody(dockerd, tmp_path):
    seed = uuid.uuid4().hex
    name = 'acq-%s' % seed[:8]
    dockerd.docker('run', '-d', '--name', name, '--network', 'none', '-e', 'SEED=' + seed, BASE_TAG,
                   'sh', '-c', 'M=$(echo "$SEED" | rev); sleep 1d; echo "$M"')
    try:
        container_id = dockerd.inspect(name)['Id']
        key = str(tmp_path / 'examiner')
        subprocess.run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', 'tester', '-f', key], check=True)
        code, output = run_playbook(os.path.join(REPO, 'playbooks', 'acquire.yml'), {
            'dfir_examiner': 'tester', 'dfir_signing_key': key, 'dfir_case_root': str(tmp_path / 'cases'),
            'dfir_case_id': 'case-volatile', 'dfir_docker_host': dockerd.host, 'dfir_containers': [name],
            'dfir_collect': ['logs', 'process_memory', 'inspect', 'process_map'], 'dfir_memory_freeze': True,
            'dfir_evidence_dir': str(tmp_path / 'staging'), 'ansible_connection': 'local',
            'ansible_python_interpreter': '/usr/bin/python3'})
        state = dockerd.inspect(name)['State']
    finally:
        dockerd.docker('rm', '-f', name, check=False)
    assert code == 0, output[-4000:]
    assert state['Running'] and not state['Paused']

    case = tmp_path / 'cases' / 'case-volatile'
    host = case / 'hosts' / 'localhost'
    assert (host / 'userns.json').is_file()
    assert (host / 'containers' / container_id / 'processes.json').is_file()
    cores = list((host / 'containers' / container_id / 'memory').glob('*.core'))
    assert len(cores) == 2
    assert any(seed[::-1].encode() in core.read_bytes() for core in cores)

    steps = json.loads((host / 'collection.json').read_text())['steps']
    order = [step['step'] for step in sorted(steps, key=lambda step: step['started_at'])]
    assert order == ['engine_facts', 'process_map', 'process_memory', 'container_inspect', 'container_logs']

    custody = [json.loads(line) for line in (case / 'custody.jsonl').read_text().splitlines()]
    changes = [entry for entry in custody if entry['action'] in ('process_memory: freeze', 'process_memory: thaw')]
    assert [entry['action'] for entry in changes] == ['process_memory: freeze', 'process_memory: thaw']
    for entry in changes:
        assert entry['parameters']['container_id'] == container_id and entry['result']['ok'] and entry['result']['changed']
        assert entry['examiner'] == 'tester' and entry['host'] == 'localhost'
    assert changes[0]['when'] < changes[1]['when']
    assert changes[1]['result']['state_after'] == 'THAWED'

    check = subprocess.run(['sha256sum', '--quiet', '-c', 'SHA256SUMS'], cwd=str(case), stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, check=False)
    assert check.returncode == 0, check.stdout.decode()
