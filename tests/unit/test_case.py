"""The sealed case's plain-tool side: SHA256SUMS that GNU sha256sum reads, and verify_case's findings."""

import hashlib
import json
import os
import shutil
import subprocess
import tempfile

import pytest

from ansible_collections.dfir.docker.plugins.plugin_utils import _case

# Names a case may hold: plain, with spaces, and every kind GNU sha256sum must escape or may choke on.
NAMES = [
    'plain.txt',
    'with space.log',
    'back\\slash',
    'new\nline',
    'carriage\rreturn',
    'caf\u00e9-\u65e5\u672c',
    'line\u2028separator',   # splitlines() would split here
    'next\x85line',
    'form\x0cfeed',
    'group\x1dseparator',
]
NOT_UTF8 = b'latin1-\xe9t\xe9'


def fill(case_dir, names, raw_names=()):
    hosts = os.path.join(case_dir, 'hosts', 'h1', 'containers', 'c' * 64)
    os.makedirs(hosts)
    expected = {}
    for index, name in enumerate(names):
        data = ('content %d of %r\n' % (index, name)).encode()
        with open(os.path.join(hosts, name), 'wb') as handle:
            handle.write(data)
        expected[os.path.join('hosts', 'h1', 'containers', 'c' * 64, name)] = hashlib.sha256(data).hexdigest()
    for raw in raw_names:
        data = b'raw name ' + raw
        with open(os.path.join(os.fsencode(hosts), raw), 'wb') as handle:
            handle.write(data)
        expected[os.path.join('hosts', 'h1', 'containers', 'c' * 64, os.fsdecode(raw))] = hashlib.sha256(data).hexdigest()
    return expected


def sha256sum_check(case_dir):
    return subprocess.run(['sha256sum', '--strict', '-c', _case.SUMS], cwd=case_dir,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)


def test_sha256sums_is_read_by_gnu_sha256sum_even_for_names_that_need_escapes(tmp_path):
    case_dir = str(tmp_path)
    expected = fill(case_dir, NAMES, [NOT_UTF8])
    hashes = _case.write_sums(case_dir)
    assert hashes == expected
    checked = sha256sum_check(case_dir)
    assert checked.returncode == 0, checked.stdout.decode(errors='replace') + checked.stderr.decode(errors='replace')
    assert checked.stdout.count(b': OK\n') == len(expected)


def test_sha256sums_lines_are_what_gnu_sha256sum_itself_writes(tmp_path):
    case_dir = str(tmp_path)
    fill(case_dir, NAMES, [NOT_UTF8])
    _case.write_sums(case_dir)
    ours = open(os.path.join(case_dir, _case.SUMS), 'rb').read()
    listed = sorted(os.fsencode(name) for name in _case.case_files(case_dir)[0] if name != _case.SUMS)
    theirs = subprocess.run([b'sha256sum', b'--'] + listed, cwd=case_dir, stdout=subprocess.PIPE, check=True).stdout
    assert sorted(ours.split(b'\n')) == sorted(theirs.split(b'\n'))


def test_sha256sums_round_trips_through_parse_sums(tmp_path):
    case_dir = str(tmp_path)
    expected = fill(case_dir, NAMES, [NOT_UTF8])
    _case.write_sums(case_dir)
    with open(os.path.join(case_dir, _case.SUMS), encoding='utf-8', errors='surrogateescape', newline='') as handle:
        parsed = _case.parse_sums(handle.read())
    assert dict((name, digest) for digest, name in parsed) == expected


def test_parse_sums_reads_lines_gnu_sha256sum_wrote(tmp_path):
    (tmp_path / 'a\\b').write_bytes(b'1')
    (tmp_path / 'c\nd').write_bytes(b'2')
    (tmp_path / 'e f').write_bytes(b'3')
    out = subprocess.run(['sha256sum', 'a\\b', 'c\nd', 'e f'], cwd=str(tmp_path), stdout=subprocess.PIPE, check=True)
    parsed = _case.parse_sums(out.stdout.decode())
    assert parsed == [(hashlib.sha256(b'1').hexdigest(), 'a\\b'), (hashlib.sha256(b'2').hexdigest(), 'c\nd'),
                      (hashlib.sha256(b'3').hexdigest(), 'e f')]


def test_parse_sums_rejects_a_line_that_is_not_a_checksum_line():
    with pytest.raises(_case.CaseError, match='line 2'):
        _case.parse_sums('%s  ok\nnot a line\n' % ('0' * 64))


def sealed_case(case_dir):
    """A case sealed as case_seal leaves it: manifest (files + artifacts), then SHA256SUMS."""
    expected = fill(case_dir, ['inspect.json', 'config.v2.json', 'log'], [NOT_UTF8])
    artifacts = [{'path': path, 'sha256_source': digest} for path, digest in sorted(expected.items())]
    manifest = {'artifacts': artifacts, 'files': _case.file_hashes(case_dir)}
    _case.write_json(os.path.join(case_dir, _case.MANIFEST), manifest)
    _case.write_sums(case_dir)
    return sorted(expected)


def test_verify_case_passes_an_untouched_case(tmp_path):
    sealed_case(str(tmp_path))
    problems, counts = _case.verify_case(str(tmp_path))
    assert problems == []
    assert counts['files'] == 5   # four artifacts and the manifest


def test_verify_case_names_a_changed_a_missing_and_an_added_file(tmp_path):
    case_dir = str(tmp_path)
    names = sealed_case(case_dir)
    changed = [name for name in names if name.endswith(os.fsdecode(NOT_UTF8))][0]
    missing = [name for name in names if name.endswith('inspect.json')][0]
    path = os.path.join(case_dir, changed)
    data = bytearray(open(path, 'rb').read())
    data[0] ^= 0x01
    open(path, 'wb').write(bytes(data))
    os.unlink(os.path.join(case_dir, missing))
    added = os.path.join('hosts', 'h1', 'planted.sh')
    open(os.path.join(case_dir, added), 'w').write('echo planted\n')
    problems, _counts = _case.verify_case(case_dir)
    text = '\n'.join(problems)
    assert '%s: SHA-256 is' % changed in text and 'changed after sealing' in text
    assert '%s: does not match the SHA-256 in the signed manifest' % changed in text
    assert '%s: listed in SHA256SUMS but missing' % missing in text
    assert '%s: listed in the manifest but missing' % missing in text
    assert '%s: not in SHA256SUMS (added after sealing)' % added in text
    assert len(problems) == 5


def test_verify_case_catches_a_file_changed_together_with_sha256sums(tmp_path):
    """Rewriting SHA256SUMS is not enough: the signed manifest still names the old hash."""
    case_dir = str(tmp_path)
    changed = sealed_case(case_dir)[0]
    open(os.path.join(case_dir, changed), 'ab').write(b'appended')
    _case.write_sums(case_dir)
    problems, _counts = _case.verify_case(case_dir)
    assert problems == ['%s: does not match the SHA-256 in the signed manifest' % changed]


def test_verify_case_refuses_a_symlink_in_the_case(tmp_path):
    case_dir = str(tmp_path)
    sealed_case(case_dir)
    os.symlink('/etc/passwd', os.path.join(case_dir, 'hosts', 'passwd'))
    problems, _counts = _case.verify_case(case_dir)
    assert any('hosts/passwd is a symlink' in problem for problem in problems)


def test_verify_case_of_an_unsealed_case_says_so(tmp_path):
    problems, _counts = _case.verify_case(str(tmp_path))
    assert problems == ['SHA256SUMS is missing: the case was never sealed']


def test_custody_lines_are_one_json_object_each(tmp_path):
    _case.append_custody(str(tmp_path), 'case opened', 'jdoe', parameters={'a': 1})
    _case.append_custody(str(tmp_path), 'fetch', 'jdoe', host='h1', result={'fetched': 2})
    lines = open(os.path.join(str(tmp_path), _case.CUSTODY)).read().splitlines()
    entries = [json.loads(line) for line in lines]
    assert [entry['action'] for entry in entries] == ['case opened', 'fetch']
    assert entries[1]['host'] == 'h1' and entries[1]['result'] == {'fetched': 2}
    assert all(entry['when'].endswith('Z') for entry in entries)


@pytest.mark.parametrize('case_id', ['', '../x', 'a/b', '.hidden', 'x' * 129, 'white space'])
def test_case_ids_that_cannot_name_a_directory_are_refused(case_id):
    with pytest.raises(_case.CaseError):
        _case.check_case_id(case_id)


# -- the signed manifest is the authority; SHA256SUMS is not signed ------------------------------------


def add_to_sums(case_dir, relative, data=None):
    """Append a sha256sum line for `relative` (a file of the case, or any name with the hash of `data`)."""
    if data is None:
        with open(os.path.join(case_dir, relative), 'rb') as handle:
            data = handle.read()
    with open(os.path.join(case_dir, _case.SUMS), 'a') as handle:
        handle.write('%s  %s\n' % (hashlib.sha256(data).hexdigest(), relative))


def test_a_file_sha256sums_lists_but_the_signed_manifest_does_not_is_a_problem(tmp_path):
    case_dir = str(tmp_path)
    sealed_case(case_dir)
    added = os.path.join('hosts', 'h1', 'planted.sh')
    open(os.path.join(case_dir, added), 'w').write('echo planted\n')
    add_to_sums(case_dir, added)
    problems, counts = _case.verify_case(case_dir)
    assert problems == ['%s: not in the signed manifest, although SHA256SUMS lists it (added after sealing)' % added]


def test_a_sha256sums_line_through_a_symlinked_directory_is_neither_checked_nor_counted(tmp_path):
    case_dir = str(tmp_path / 'case')
    os.mkdir(case_dir)
    sealed_case(case_dir)
    outside = tmp_path / 'outside'
    outside.mkdir()
    (outside / 'secret').write_bytes(b'not evidence\n')
    os.symlink(str(outside), os.path.join(case_dir, 'hosts', 'h1', 'link'))
    add_to_sums(case_dir, 'hosts/h1/link/secret', b'not evidence\n')
    problems, counts = _case.verify_case(case_dir)
    assert counts['files'] == 5   # the four artifacts and the manifest; not the line through the link
    assert any('hosts/h1/link/secret' in problem and 'outside the case' in problem for problem in problems), problems
    assert any('hosts/h1/link is a symlink' in problem for problem in problems), problems


def test_lines_outside_the_case_are_not_counted_among_the_files_that_match(tmp_path):
    case_dir = str(tmp_path / 'case')
    os.mkdir(case_dir)
    sealed_case(case_dir)
    (tmp_path / 'beside').write_bytes(b'beside the case\n')
    add_to_sums(case_dir, '../beside')
    add_to_sums(case_dir, 'hosts/./h1/../h1/x', b'x')
    problems, counts = _case.verify_case(case_dir)
    assert counts['files'] == 5
    assert len(problems) == 2 and all(problem.startswith('SHA256SUMS names a file outside the case') for problem in problems)


@pytest.mark.parametrize('forged, cause', [
    (b'{"files": {}, "artifacts": [', 'is not valid JSON'),
    (b'\xff\xfe{}', 'is not valid JSON'),
    (b'{"artifacts": []}', '"files" is missing'),
    (b'{"files": {"custody.jsonl": 5}, "artifacts": []}', 'not a SHA-256 hash'),
    (b'{"files": {}, "artifacts": "all"}', '"artifacts" is str, not a list'),
    (b'{"files": {}, "artifacts": [["hosts/x"]]}', 'artifact 0 is not a record with a path'),
    (b'null', 'is not a JSON object but NoneType'),
])
def test_a_manifest_of_another_shape_is_named_with_its_cause(tmp_path, forged, cause):
    case_dir = str(tmp_path)
    sealed_case(case_dir)
    with open(os.path.join(case_dir, _case.MANIFEST), 'wb') as handle:
        handle.write(forged)
    problems, _counts = _case.verify_case(case_dir)
    assert any(problem.startswith(_case.MANIFEST) and cause in problem for problem in problems), problems


def test_a_manifest_that_lists_a_file_outside_the_case_is_a_problem(tmp_path):
    case_dir = str(tmp_path / 'case')
    os.mkdir(case_dir)
    sealed_case(case_dir)
    (tmp_path / 'beside').write_bytes(b'beside\n')
    path = os.path.join(case_dir, _case.MANIFEST)
    document = json.load(open(path))
    document['files']['../beside'] = hashlib.sha256(b'beside\n').hexdigest()
    _case.write_json(path, document)
    problems, _counts = _case.verify_case(case_dir)
    assert any(problem.startswith('manifest.json names a file outside the case') and '../beside' in problem
               for problem in problems), problems


@pytest.mark.parametrize('replacement', ['directory', 'symlink', 'missing'])
def test_a_manifest_that_is_not_a_regular_file_is_a_problem(tmp_path, replacement):
    case_dir = str(tmp_path / 'case')
    os.mkdir(case_dir)
    sealed_case(case_dir)
    path = os.path.join(case_dir, _case.MANIFEST)
    os.rename(path, str(tmp_path / 'moved.json'))
    if replacement == 'directory':
        os.mkdir(path)
    elif replacement == 'symlink':
        os.symlink(str(tmp_path / 'moved.json'), path)
    problems, _counts = _case.verify_case(case_dir)
    assert any(problem.startswith(_case.MANIFEST) for problem in problems), problems


def test_the_manifest_given_by_the_caller_is_the_one_checked(tmp_path):
    """case_verify reads the manifest once, checks its signature over those bytes and hands the same
    bytes to verify_case: the file on disk is not read again."""
    case_dir = str(tmp_path)
    names = sealed_case(case_dir)
    data, problem = _case.read_manifest(case_dir)
    assert problem is None
    assert _case.verify_case(case_dir, manifest=(data, None))[0] == []
    document = json.loads(data.decode())
    document['files'][names[0]] = '0' * 64
    problems, _counts = _case.verify_case(case_dir, manifest=(json.dumps(document).encode(), None))
    assert problems == sorted(['%s: does not match the SHA-256 in the signed manifest' % names[0],
                               '%s: the manifest\'s source hash and file hash disagree' % names[0]])


@pytest.mark.parametrize('unreadable', [_case.MANIFEST, _case.SUMS, 'hosts/h1'])
def test_a_seal_file_or_directory_the_verifier_cannot_read_is_named_not_a_traceback(unreadable):
    """As test_breaker_case's unreadable artifact, for the manifest, SHA256SUMS and a directory."""
    from tests.unit.test_breaker_case import NOBODY, verify_as   # it imports this module: import it here
    case_dir = tempfile.mkdtemp(prefix='dfir-case-unreadable-', dir='/var/tmp')
    try:
        os.chmod(case_dir, 0o755)
        sealed_case(case_dir)
        for parent, dirs, files in os.walk(case_dir):
            for name in dirs:
                os.chmod(os.path.join(parent, name), 0o755)
            for name in files:
                os.chmod(os.path.join(parent, name), 0o644)
        os.chmod(os.path.join(case_dir, unreadable), 0o700 if unreadable == 'hosts/h1' else 0o600)
        kind, answer = verify_as(NOBODY, case_dir)
    finally:
        shutil.rmtree(case_dir, ignore_errors=True)
    assert kind == 'problems', answer
    assert any(problem.startswith(unreadable) and 'Permission denied' in problem for problem in answer), answer


def test_a_case_file_swapped_for_a_fifo_after_it_was_looked_at_does_not_hang_verify(tmp_path, monkeypatch):
    """A forger swaps an artifact for a FIFO between the look and the open: verify must not block on
    it, and names the file."""
    import signal
    case_dir = str(tmp_path)
    names = sealed_case(case_dir)
    target = os.path.join(case_dir, names[0])
    real_stat = os.stat

    def stat_then_swap(path, *args, **kwargs):
        found = real_stat(path, *args, **kwargs)
        if path == os.path.basename(target) and os.path.isfile(target):
            os.unlink(target)
            os.mkfifo(target)
        return found

    def hung(_signum, _frame):
        raise AssertionError('verify_case blocked opening %s' % names[0])

    monkeypatch.setattr(_case.os, 'stat', stat_then_swap)
    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(5)
    try:
        problems, counts = _case.verify_case(case_dir)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
        monkeypatch.undo()
    assert any(names[0] in problem and 'not a regular file' in problem for problem in problems), problems
    assert counts['files'] == 4


def test_an_emptied_sha256sums_is_named_as_the_cause(tmp_path):
    case_dir = str(tmp_path)
    sealed_case(case_dir)
    with open(os.path.join(case_dir, 'SHA256SUMS'), 'w'):
        pass
    problems, counts = _case.verify_case(case_dir)
    assert problems[0] == 'SHA256SUMS lists no file: it was emptied after sealing', problems
    assert counts['files'] == 0
