"""verify_case attacked directly: defects found by attacking main (see tests/integration/test_breaker.py)."""

import hashlib
import os
import pickle
import shutil
import tempfile

import pytest

from ansible_collections.dfir.docker.plugins.plugin_utils import _case
from tests.unit.test_case import sealed_case

NOBODY = 65534


@pytest.fixture()
def open_case_dir():
    """A case dir another user can walk into (pytest's tmp_path is private to root)."""
    directory = tempfile.mkdtemp(prefix='dfir-breaker-case-', dir='/var/tmp')
    os.chmod(directory, 0o755)
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


def verify_as(uid, case_dir):
    """verify_case run by another user, in a child process: ('problems', list) or ('raised', text)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: drop to `uid`, verify, report, exit without running pytest's teardown
        try:
            os.close(read_end)
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            try:
                answer = ('problems', _case.verify_case(case_dir)[0])
            except BaseException as exc:  # noqa: B902 - the point is to see what escapes
                answer = ('raised', '%s: %s' % (type(exc).__name__, exc))
            os.write(write_end, pickle.dumps(answer))
        finally:
            os._exit(0)
    os.close(write_end)
    data = b''
    while True:
        chunk = os.read(read_end, 65536)
        if not chunk:
            break
        data += chunk
    os.close(read_end)
    os.waitpid(pid, 0)
    return pickle.loads(data)


def test_a_file_the_verifier_cannot_read_is_named_as_a_problem_not_a_traceback(open_case_dir):
    """A case is checked "anywhere, at any later time", often by someone else than the examiner who
    sealed it (evidence_fetch leaves every file mode 0440, owned by the controller's user). A file the
    verifier may not read is a finding that names the file, and the other files are still checked."""
    names = sealed_case(open_case_dir)
    for parent, dirs, files in os.walk(open_case_dir):
        for name in dirs:
            os.chmod(os.path.join(parent, name), 0o755)
        for name in files:
            os.chmod(os.path.join(parent, name), 0o644)
    unreadable = names[0]
    os.chmod(os.path.join(open_case_dir, unreadable), 0o400)
    kind, answer = verify_as(NOBODY, open_case_dir)
    assert kind == 'problems', answer
    assert any(unreadable in problem for problem in answer), answer


@pytest.mark.parametrize('outside', ['/etc/hostname', '../outside-the-case'])
def test_a_sha256sums_line_naming_a_file_outside_the_case_is_a_problem(tmp_path, outside):
    """SHA256SUMS is not signed; a line added for a file outside the case (absolute, or climbing out
    with ..) adds nothing to the evidence, yet it is checked and counted as if it were in the case."""
    case_dir = str(tmp_path / 'case')
    os.mkdir(case_dir)
    sealed_case(case_dir)
    target = os.path.normpath(os.path.join(case_dir, outside))
    if not os.path.exists(target):
        with open(target, 'w') as handle:
            handle.write('not evidence\n')
    with open(target, 'rb') as handle:
        digest = hashlib.sha256(handle.read()).hexdigest()
    with open(os.path.join(case_dir, _case.SUMS), 'a') as handle:
        handle.write('%s  %s\n' % (digest, outside))
    problems, _counts = _case.verify_case(case_dir)
    assert any(outside in problem for problem in problems), problems


@pytest.mark.parametrize('forged', ['[]', '{"files": ["hosts"], "artifacts": {}}', '"manifest"'])
def test_a_manifest_replaced_by_json_of_another_shape_is_a_problem_not_a_traceback(tmp_path, forged):
    """A forger (or a broken copy) may leave any JSON in manifest.json: verification fails saying so."""
    case_dir = str(tmp_path)
    sealed_case(case_dir)
    with open(os.path.join(case_dir, _case.MANIFEST), 'w') as handle:
        handle.write(forged)
    problems, _counts = _case.verify_case(case_dir)
    assert any(_case.MANIFEST in problem for problem in problems), problems
