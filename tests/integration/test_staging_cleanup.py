"""The host's staged copy of the evidence: removed only where the case holds it, and the custody log says so.

No daemon needed: the staging module and evidence_fetch run through Ansible on localhost, on files
the test stages itself, as the collecting modules would.
"""

import hashlib
import os

from tests.integration import test_playbook
from tests.integration.test_playbook import custody, manifest, run_fetch_check
from tests.support.ansible_run import run_module

# The examiner's signing keys and allowed_signers: the fixture of the playbook tests, shared.
keys = test_playbook.keys


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


GOOD = {'path': 'good.txt', 'kind': 'test', 'sha256': hashlib.sha256(b'good.txt as staged\n').hexdigest(), 'size': 19}


def fetch_and_remove(keys, tmp_path, staged):
    """test_playbook's fetch check with remove_staging: staged files, good.txt reported by a step."""
    rc, output, case_dir = run_fetch_check(keys, tmp_path, [GOOD], staged=staged, remove_staging=True)
    return rc, output, case_dir, str(tmp_path / 'staging')


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


def test_a_name_in_only_that_no_file_can_have_is_not_removed_and_said_so_not_a_traceback(tmp_path):
    """A NUL byte cannot be in a file name: os.open raised ValueError and the module died with it."""
    staging = str(tmp_path / 'staging' / 'IR-STAGE')
    stage(staging, {'a': b'a\n', 'a\\0b': b'backslash zero\n'})
    result = run_module('staging', {'path': staging, 'state': 'absent', 'only': ['a\0b', 'a']})
    assert not result['failed'], result['msg']
    assert result['removed_files'] == 1 and not os.path.exists(os.path.join(staging, 'a'))
    assert [item for item in result['not_removed'] if item.startswith('a\0b: ')], result['not_removed']
    assert os.path.isfile(os.path.join(staging, 'a\\0b')) and result['left'] == ['a\\0b']


def test_a_staging_path_with_a_nul_byte_is_refused_in_every_state(tmp_path):
    for state in ('present', 'absent', 'usage'):
        result = run_module('staging', {'path': str(tmp_path / 'a\0b'), 'state': state, 'case_id': 'IR-STAGE'})
        assert result['failed'] and 'NUL' in result['msg'], (state, result)


def test_a_marker_file_that_is_not_a_json_object_is_not_taken_for_a_staging_dir(tmp_path):
    """A broken or planted .dfir-docker-staging of another JSON type: the module said "'list' object has no
    attribute 'get'" (a Python error) instead of treating the directory as one it did not make."""
    staging = str(tmp_path / 'staging' / 'IR-STAGE')
    os.makedirs(staging)
    for marker in (b'[]', b'"IR-STAGE"', b'5'):
        with open(os.path.join(staging, '.dfir-docker-staging'), 'wb') as handle:
            handle.write(marker)
        for state in ('present', 'absent'):
            result = run_module('staging', {'path': staging, 'state': state, 'case_id': 'IR-STAGE', 'docker_host': ''})
            assert result['failed'] and 'dfir.docker' in result['msg'], (marker, state, result)
            assert os.path.isfile(os.path.join(staging, '.dfir-docker-staging'))


def test_a_creation_time_of_another_type_in_the_hosts_marker_is_not_the_custody_lines_time(keys, tmp_path):
    """The time of the "staging dir found" custody line comes from the marker file on the host; a broken or
    planted one holding something else than a time string made that line's "when" an object."""
    staging = tmp_path / 'staging'
    staging.mkdir()
    (staging / '.dfir-docker-staging').write_text('{"case_id": "fetch-check", "created_at": {"not": "a time"}}')
    rc, output, case_dir, _staging = fetch_and_remove(keys, tmp_path, ['good.txt'])
    assert rc == 0, output[-4000:]
    found = staging_lines(case_dir)[0]
    assert found['action'] == 'staging dir found', found
    assert isinstance(found['when'], str) and found['when'].endswith('Z'), found
    assert found['result'].get('host_created_at') == {'not': 'a time'}, found
