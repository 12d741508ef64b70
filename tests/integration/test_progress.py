"""A long step shows the examiner that it moves, and its result is recorded as if it ran in the foreground."""

import json
import os
import re
import subprocess

from tests.support.ansible_run import REPO, run_playbook
from tests.support.images import BASE_TAG

PROGRESS = re.compile(r'localhost: memory dump running (\d+)m(\d\d)s, ([\d.]+) (B|KiB|MiB) written so far')


def test_a_slow_memory_dump_prints_growing_progress_and_its_cores_are_sealed(dockerd, tmp_path):
    name = 'progress-big'
    # dd holds a 24 MiB buffer while it blocks on a pipe nobody reads; at 3 MB/s the dump takes ~9 s.
    dockerd.docker('run', '-d', '--name', name, '--network', 'none', '--stop-timeout', '1', BASE_TAG,
                   'sh', '-c', 'dd if=/dev/zero bs=24M count=1 | sleep 1d')
    try:
        key = str(tmp_path / 'examiner')
        subprocess.run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', 'tester', '-f', key], check=True)
        code, output = run_playbook(os.path.join(REPO, 'playbooks', 'acquire.yml'), {
            'dfir_examiner': 'tester', 'dfir_signing_key': key, 'dfir_case_root': str(tmp_path / 'cases'),
            'dfir_case_id': 'case-progress', 'dfir_docker_host': dockerd.host, 'dfir_containers': [name],
            'dfir_collect': ['process_memory'], 'dfir_memory_max_rate': 3000000, 'dfir_progress_interval': 1,
            'dfir_evidence_dir': str(tmp_path / 'staging'), 'ansible_connection': 'local',
            'ansible_python_interpreter': '/usr/bin/python3'})
        container_id = dockerd.inspect(name)['Id']
    finally:
        dockerd.docker('rm', '-f', name, check=False)
    assert code == 0, output[-4000:]
    readings = []
    for match in PROGRESS.finditer(output):
        scale = {'B': 1, 'KiB': 1 << 10, 'MiB': 1 << 20}[match.group(4)]
        readings.append((int(match.group(1)) * 60 + int(match.group(2)), float(match.group(3)) * scale))
    assert len(readings) >= 3, output[-4000:]
    assert [size for _seconds, size in readings] == sorted(size for _seconds, size in readings)
    assert readings[-1][1] > readings[0][1] and readings[-1][0] > readings[0][0]
    assert re.search(r'writing %s/memory/\d+\.core \(' % container_id[:12], output)

    case = tmp_path / 'cases' / 'case-progress'
    cores = list((case / 'hosts' / 'localhost' / 'containers' / container_id / 'memory').glob('*.core'))
    assert cores and max(core.stat().st_size for core in cores) > 24 << 20
    steps = dict((step['step'], step) for step in json.loads((case / 'hosts' / 'localhost' / 'collection.json').read_text())['steps'])
    # the step's own result reached the case: its artifacts, parameters and times
    assert steps['process_memory']['failed'] is False and steps['process_memory']['artifacts'] >= 3
    assert steps['process_memory']['parameters']['max_rate'] == 3000000
    check = subprocess.run(['sha256sum', '--quiet', '-c', 'SHA256SUMS'], cwd=str(case), stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, check=False)
    assert check.returncode == 0, check.stdout.decode()
