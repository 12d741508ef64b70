"""The host's staged copy of the evidence: removed only where the case holds it, and the custody log says so.

No daemon needed: the staging module and evidence_fetch run through Ansible on localhost, on files
the test stages itself, as the collecting modules would.
"""

import hashlib
import os

from tests.integration.test_playbook import SIGNER, custody, keys, manifest  # noqa: F401 - keys is a fixture
from tests.support.ansible_run import HOST_PYTHON, run_module, run_playbook


def stage(staging, files):
    """A staging dir made by the staging module, holding `files` ({relative name: bytes})."""
    made = run_module('staging', {'path': staging, 'case_id': 'IR-STAGE'})
    assert not made['failed'], made['msg']
    for relative, data in files.items():
        path = os.path.join(staging, relative)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, 'wb') as handle:
            handle.write(data)
    return made


def test_absent_with_only_removes_just_those_files_and_keeps_the_dir_when_anything_is_left(tmp_path):
    staging = str(tmp_path / 'staging' / 'IR-STAGE')
    outside = tmp_path / 'outside'
    outside.mkdir()
    (outside / 'x').write_bytes(b'a host file\n')
    stage(staging, {'a/one.txt': b'1' * 10, 'a/two.txt': b'2' * 20, 'b/three.txt': b'3' * 30})
    os.symlink(str(outside), os.path.join(staging, 'link'))
    names = ['a/one.txt', 'a/two.txt', 'link/x', '../outside/x', '/etc/hostname', 'missing.txt', '.dfir-docker-staging']
    dry = run_module('staging', {'path': staging, 'state': 'absent', 'only': names}, check_mode=True)
    assert not dry['failed'], dry['msg']
    assert os.path.isfile(os.path.join(staging, 'a', 'one.txt')) and dry['removed'] is False
    assert (dry['removed_files'], dry['left']) == (2, ['b/three.txt', 'link'])

    result = run_module('staging', {'path': staging, 'state': 'absent', 'only': names})
    assert not result['failed'], result['msg']
    assert (result['removed_files'], result['removed_bytes']) == (2, 30)
    assert result['removed'] is False and os.path.isdir(staging)
    assert (result['left'], result['left_files'], result['left_bytes']) == (['b/three.txt', 'link'], 2, 30)
    assert not os.path.exists(os.path.join(staging, 'a'))   # emptied, then removed
    assert (outside / 'x').read_bytes() == b'a host file\n'
    assert sorted(item.split(':')[0] for item in result['not_removed']) == sorted(set(names) - {'a/one.txt', 'a/two.txt'})
    assert os.path.isfile('/etc/hostname')
    assert result['user']['uid'] == os.geteuid()

    os.unlink(os.path.join(staging, 'link'))
    last = run_module('staging', {'path': staging, 'state': 'absent', 'only': ['b/three.txt']})
    assert not last['failed'], last['msg']
    assert last['removed'] is True and last['left_files'] == 0 and not os.path.exists(staging)


FETCH_AND_REMOVE = '''
- hosts: localhost
  gather_facts: false
  connection: local
  vars:
    ansible_python_interpreter: %(python)s
  tasks:
    - dfir.docker.case_open:
        case_root: "{{ case_root }}"
        case_id: stage-check
        examiner: Jane Doe
        signing_key: "{{ key }}"
        signer: %(signer)s
      register: case
    - dfir.docker.staging:
        path: "{{ staging }}"
        case_id: stage-check
      register: made
    - ansible.builtin.copy:
        dest: "{{ staging }}/{{ item }}"
        content: "{{ item }} as staged\\n"
        mode: "0600"
      loop: "{{ staged }}"
    - dfir.docker.evidence_fetch:
        evidence_dir: "{{ staging }}"
        case_dir: "{{ case.case_dir }}"
        examiner: Jane Doe
        staging: "{{ made }}"
        remove_staging: true
        steps:
          a_step:
            started_at: "2026-01-01T00:00:00.000000Z"
            artifacts: [{path: good.txt, kind: test, sha256: %(digest)s, size: 19}]
      register: fetched
      ignore_errors: true
    - dfir.docker.case_seal:
        case_dir: "{{ case.case_dir }}"
        case_id: stage-check
        examiner: Jane Doe
        signing_key: "{{ key }}"
        signer: %(signer)s
        hosts: [localhost]
'''


def fetch_and_remove(keys, tmp_path, staged):
    playbook = str(tmp_path / 'fetch.yml')
    with open(playbook, 'w') as handle:
        handle.write(FETCH_AND_REMOVE % {'python': HOST_PYTHON, 'signer': SIGNER,
                                         'digest': hashlib.sha256(b'good.txt as staged\n').hexdigest()})
    staging = str(tmp_path / 'staging' / 'stage-check')
    rc, output = run_playbook(playbook, {'case_root': str(tmp_path / 'cases'), 'key': keys['examiner'],
                                         'staging': staging, 'staged': staged})
    return rc, output, str(tmp_path / 'cases' / 'stage-check'), staging


def staging_lines(case_dir):
    return [entry for entry in custody(case_dir) if entry['action'].startswith('staging dir')]


def test_a_staging_dir_holding_only_what_was_fetched_is_removed_and_custody_says_what_and_who(keys, tmp_path):
    rc, output, case_dir, staging = fetch_and_remove(keys, tmp_path, ['good.txt'])
    assert rc == 0, output[-4000:]
    assert not os.path.exists(staging)
    created, removed = staging_lines(case_dir)
    assert created['action'] == 'staging dir created' and removed['action'] == 'staging dir removed'
    for entry in (created, removed):
        assert entry['host'] == 'localhost' and entry['parameters']['path'] == staging
        assert entry['parameters']['host_user']['uid'] == os.geteuid() and entry['parameters']['login_user']
        assert entry['operator'] and entry['when'].endswith('Z')
    assert (removed['result']['removed_files'], removed['result']['removed_bytes']) == (1, 19)
    assert removed['result']['left_files'] == 0
    (host,) = manifest(case_dir)['hosts']
    assert host['status'] == 'collected' and host['staging']['state'] == 'removed'


def test_a_file_no_step_reported_keeps_the_staging_dir_and_leaves_the_host_partial(keys, tmp_path):
    """orphan.txt stands for an artifact a step wrote and hashed, then died before reporting it."""
    rc, output, case_dir, staging = fetch_and_remove(keys, tmp_path, ['good.txt', 'orphan.txt'])
    assert rc == 0, output[-4000:]   # the fetch task fails (ignored here); the seal goes on
    assert not os.path.exists(os.path.join(staging, 'good.txt'))   # it is in the case, with its hash
    assert os.path.isfile(os.path.join(staging, 'orphan.txt'))
    assert os.path.isfile(os.path.join(case_dir, 'hosts', 'localhost', 'good.txt'))
    message = 'the staging dir %s is kept on the host: 1 file(s)' % staging
    assert message in output
    (host,) = manifest(case_dir)['hosts']
    assert host['status'] == 'partial' and message in host['reason'] and 'orphan.txt' in host['reason']
    kept = staging_lines(case_dir)[-1]
    assert kept['action'] == 'staging dir kept'
    assert kept['result']['left'] == ['orphan.txt'] and kept['result']['removed_files'] == 1
