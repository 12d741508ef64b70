"""SSH signatures of the manifest, made and checked by the real ssh-keygen."""

import os
import subprocess
import time

import pytest

from ansible_collections.dfir.docker.plugins.plugin_utils import _sshsig


@pytest.fixture()
def no_agent(monkeypatch):
    """No ssh-agent and no askpass from the caller's session: only what the test gives."""
    for name in ('SSH_AUTH_SOCK', 'SSH_ASKPASS', 'SSH_ASKPASS_REQUIRE', 'DISPLAY'):
        monkeypatch.delenv(name, raising=False)


def make_key(directory, kind='ed25519', passphrase='', name=None):
    path = os.path.join(str(directory), name or 'id_%s' % kind)
    args = ['ssh-keygen', '-q', '-t', kind, '-N', passphrase, '-C', 'examiner@test', '-f', path]
    if kind == 'rsa':
        args += ['-b', '2048']
    subprocess.run(args, check=True, stdin=subprocess.DEVNULL)
    return path


def allowed_signers(directory, signer, public_key_path):
    path = os.path.join(str(directory), 'allowed_signers')
    with open(public_key_path) as handle:
        key = handle.read().split()
    with open(path, 'w') as handle:
        handle.write('%s namespaces="%s" %s %s\n' % (signer, _sshsig.NAMESPACE, key[0], key[1]))
    return path


def ssh_keygen_verify(signers, signer, data_path, signature_path, namespace=_sshsig.NAMESPACE):
    with open(data_path, 'rb') as data:
        return subprocess.run(['ssh-keygen', '-Y', 'verify', '-f', signers, '-I', signer, '-n', namespace,
                               '-s', signature_path], stdin=data, stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)


def document(tmp_path):
    path = str(tmp_path / 'manifest.json')
    with open(path, 'w') as handle:
        handle.write('{"case_id": "IR-42"}\n')
    return path


@pytest.mark.parametrize('kind', ['ed25519', 'rsa'])
def test_a_signature_verifies_with_ssh_keygen_itself(tmp_path, no_agent, kind):
    key = make_key(tmp_path, kind)
    data = document(tmp_path)
    signature = _sshsig.sign(key, data)
    assert signature == data + '.sig'
    signers = allowed_signers(tmp_path, 'jdoe@example.org', key + '.pub')
    checked = ssh_keygen_verify(signers, 'jdoe@example.org', data, signature)
    assert checked.returncode == 0, checked.stderr
    assert 'Good "dfir.docker" signature for jdoe@example.org' in _sshsig.verify(signers, 'jdoe@example.org', data, signature)


def test_the_public_key_and_fingerprint_are_those_of_the_key(tmp_path, no_agent):
    key = make_key(tmp_path)
    with open(key + '.pub') as handle:
        expected = handle.read().split()
    line = _sshsig.public_key(key)
    assert line.split()[:2] == expected[:2]
    listed = subprocess.run(['ssh-keygen', '-l', '-E', 'sha256', '-f', key + '.pub'], stdout=subprocess.PIPE,
                            check=True).stdout.decode().split()
    assert _sshsig.fingerprint(line) == listed[1]


def test_a_passphrase_protected_key_signs_with_its_passphrase(tmp_path, no_agent):
    key = make_key(tmp_path, passphrase='correct horse')
    data = document(tmp_path)
    assert _sshsig.public_key(key, 'correct horse').split()[0] == 'ssh-ed25519'
    signature = _sshsig.sign(key, data, passphrase='correct horse')
    signers = allowed_signers(tmp_path, 'jdoe', key + '.pub')
    assert ssh_keygen_verify(signers, 'jdoe', data, signature).returncode == 0


@pytest.mark.parametrize('passphrase', [None, 'wrong'])
def test_a_passphrase_protected_key_without_its_passphrase_is_refused_naming_the_key(tmp_path, no_agent, passphrase):
    key = make_key(tmp_path, passphrase='correct horse')
    data = document(tmp_path)
    with pytest.raises(_sshsig.SigningError) as caught:
        _sshsig.public_key(key, passphrase)
    assert key in str(caught.value) and 'passphrase' in str(caught.value)
    with pytest.raises(_sshsig.SigningError) as caught:
        _sshsig.sign(key, data, passphrase=passphrase)
    assert key in str(caught.value) and 'passphrase' in str(caught.value)
    assert not os.path.exists(data + '.sig')


def test_a_world_readable_key_is_refused_with_the_fix(tmp_path, no_agent):
    key = make_key(tmp_path)
    os.chmod(key, 0o644)
    with pytest.raises(_sshsig.SigningError) as caught:
        _sshsig.sign(key, document(tmp_path))
    assert key in str(caught.value) and '0644' in str(caught.value) and 'chmod 600' in str(caught.value)


def lone_public_key(tmp_path):
    """A key pair, and its public key alone in a directory (ssh-keygen would load a private key beside it)."""
    key = make_key(tmp_path)
    (tmp_path / 'public').mkdir()
    public = str(tmp_path / 'public' / 'id.pub')
    os.rename(key + '.pub', public)
    return key, public


@pytest.fixture()
def agent(tmp_path, monkeypatch):
    """A real ssh-agent of this test only, stopped by its pid."""
    socket_path = str(tmp_path / 'agent.sock')
    process = subprocess.Popen(['ssh-agent', '-D', '-a', socket_path], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        for _attempt in range(100):
            if os.path.exists(socket_path):
                break
            time.sleep(0.05)
        monkeypatch.setenv('SSH_AUTH_SOCK', socket_path)
        yield socket_path
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_a_public_key_without_an_agent_is_refused_before_signing_and_says_why(tmp_path, no_agent):
    _key, public = lone_public_key(tmp_path)
    assert _sshsig.check_private_key(public) == 'public'
    with pytest.raises(_sshsig.SigningError) as caught:
        _sshsig.public_key(public)
    assert public in str(caught.value) and 'SSH_AUTH_SOCK is not set' in str(caught.value)
    data = document(tmp_path)
    with pytest.raises(_sshsig.SigningError) as caught:
        _sshsig.sign(public, data)
    assert public in str(caught.value)
    assert not os.path.exists(data + '.sig')


def test_a_public_key_whose_private_key_the_agent_does_not_hold_is_refused(tmp_path, no_agent, agent):
    _key, public = lone_public_key(tmp_path)
    with pytest.raises(_sshsig.SigningError, match='ssh-agent does not hold its private key'):
        _sshsig.public_key(public)


def test_a_public_key_signs_through_the_agent_that_holds_it(tmp_path, no_agent, agent):
    key, public = lone_public_key(tmp_path)
    subprocess.run(['ssh-add', '-q', key], check=True, stdin=subprocess.DEVNULL)
    os.unlink(key)   # the agent alone holds it now
    assert _sshsig.public_key(public).split()[:2] == open(public).read().split()[:2]
    data = document(tmp_path)
    signature = _sshsig.sign(public, data)
    signers = allowed_signers(tmp_path, 'jdoe', public)
    assert ssh_keygen_verify(signers, 'jdoe', data, signature).returncode == 0


def test_a_missing_key_and_a_file_that_is_no_key_are_refused_by_name(tmp_path, no_agent):
    missing = str(tmp_path / 'nowhere')
    with pytest.raises(_sshsig.SigningError, match='%s does not exist' % missing):
        _sshsig.public_key(missing)
    junk = tmp_path / 'junk'
    junk.write_text('not a key at all\n')
    os.chmod(str(junk), 0o600)
    with pytest.raises(_sshsig.SigningError, match='is not an SSH private key'):
        _sshsig.public_key(str(junk))


def test_a_signature_by_another_key_does_not_verify(tmp_path, no_agent):
    trusted = make_key(tmp_path, name='trusted')
    intruder = make_key(tmp_path, name='intruder')
    data = document(tmp_path)
    signature = _sshsig.sign(intruder, data)
    signers = allowed_signers(tmp_path, 'jdoe', trusted + '.pub')
    assert ssh_keygen_verify(signers, 'jdoe', data, signature).returncode != 0
    with pytest.raises(_sshsig.SigningError, match='does not verify for signer jdoe'):
        _sshsig.verify(signers, 'jdoe', data, signature)


def test_a_changed_document_or_another_namespace_does_not_verify(tmp_path, no_agent):
    key = make_key(tmp_path)
    data = document(tmp_path)
    signature = _sshsig.sign(key, data)
    signers = allowed_signers(tmp_path, 'jdoe', key + '.pub')
    other_namespace = _sshsig.sign(key, data, namespace='file')
    assert ssh_keygen_verify(signers, 'jdoe', data, other_namespace, namespace='file').returncode != 0
    signature = _sshsig.sign(key, data)
    with open(data, 'a') as handle:
        handle.write(' ')
    with pytest.raises(_sshsig.SigningError):
        _sshsig.verify(signers, 'jdoe', data, signature)


def test_verify_checks_the_bytes_it_is_given_not_the_file_again(tmp_path, no_agent):
    """case_verify hands over the manifest's bytes as it read them: those are what must verify."""
    key = make_key(tmp_path)
    data = document(tmp_path)
    signature = _sshsig.sign(key, data)
    signers = allowed_signers(tmp_path, 'jdoe@example.org', key + '.pub')
    with open(data, 'rb') as handle:
        signed = handle.read()
    assert 'Good' in _sshsig.verify(signers, 'jdoe@example.org', data, signature, data=signed)
    with pytest.raises(_sshsig.SigningError, match='does not verify'):
        _sshsig.verify(signers, 'jdoe@example.org', data, signature, data=signed.replace(b'42', b'43'))
