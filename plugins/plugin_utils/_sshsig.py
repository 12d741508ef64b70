# -*- coding: utf-8 -*-
# Copyright: dfir.docker contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""SSH signatures (SSHSIG) of a case manifest, made and checked with ssh-keygen.

Private to the collection; controller side only.  OpenSSH's own tool is
used on purpose: it is what anyone checking the case later will run, and
it signs with keys on disk, in ssh-agent, or on a security key alike.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import shutil
import stat
import subprocess
import tempfile

NAMESPACE = 'dfir.docker'


class SigningError(Exception):
    """The manifest could not be signed or checked; the message says why."""


def ssh_keygen():
    path = shutil.which('ssh-keygen')
    if not path:
        raise SigningError('ssh-keygen is not installed on the controller (Debian: apt-get install openssh-client)')
    return path


def _run(args, env=None, stdin=None, timeout=60, data=None):
    try:
        if data is not None:
            return subprocess.run([ssh_keygen()] + args, input=data, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  env=env, timeout=timeout, check=False)
        return subprocess.run([ssh_keygen()] + args, stdin=stdin if stdin is not None else subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise SigningError('ssh-keygen did not finish within %ss (is it waiting for a passphrase or a security key touch?)' % timeout)


def _clean(stderr):
    return ' '.join(line.strip() for line in stderr.decode('utf-8', 'replace').splitlines() if line.strip())


def check_private_key(key_path):
    """Refuse a key ssh-keygen would refuse, with the reason in plain words."""
    if not key_path:
        raise SigningError('no signing key was given (dfir_signing_key)')
    if not os.path.exists(key_path):
        raise SigningError('signing key %s does not exist' % key_path)
    if not os.path.isfile(key_path):
        raise SigningError('signing key %s is not a file' % key_path)
    try:
        with open(key_path, 'rb') as handle:
            head = handle.read(64)
    except OSError as exc:
        raise SigningError('signing key %s cannot be read: %s' % (key_path, exc.strerror))
    if head.startswith(b'ssh-') or head.startswith(b'ecdsa-') or head.startswith(b'sk-'):
        # A public key: ssh-keygen then signs with the matching key held by ssh-agent.
        return 'public'
    if b'PRIVATE KEY' not in head:
        raise SigningError('signing key %s is not an SSH private key (expected an OpenSSH or PEM private key)' % key_path)
    mode = stat.S_IMODE(os.stat(key_path).st_mode)
    if mode & 0o077:
        raise SigningError('signing key %s is readable by others (mode %04o); ssh-keygen refuses such keys: chmod 600 it'
                           % (key_path, mode))
    return 'private'


def _askpass_env(passphrase, workdir):
    """An environment in which ssh-keygen reads the passphrase from a helper, not a terminal."""
    env = dict(os.environ)
    if passphrase is None:
        env.pop('SSH_ASKPASS', None)
        return env
    helper = os.path.join(workdir, 'askpass')
    with open(helper, 'w') as handle:
        handle.write('#!/bin/sh\nprintf "%s\\n" "$DFIR_SIGNING_PASSPHRASE"\n')
    os.chmod(helper, 0o700)
    env.update({'SSH_ASKPASS': helper, 'SSH_ASKPASS_REQUIRE': 'force', 'DFIR_SIGNING_PASSPHRASE': passphrase,
                'DISPLAY': env.get('DISPLAY', ':0')})
    return env


def public_key(key_path, passphrase=None):
    """The public key line of a private key (proves the key loads), or of a public key file."""
    kind = check_private_key(key_path)
    if kind == 'public':
        with open(key_path) as handle:
            line = handle.read().strip()
        check_agent_holds(key_path, line)
        return line
    workdir = tempfile.mkdtemp(prefix='dfir-sign-')
    try:
        result = _run(['-y', '-f', key_path], env=_askpass_env(passphrase, workdir))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if result.returncode != 0:
        message = _clean(result.stderr)
        if 'incorrect passphrase' in message or 'passphrase' in message.lower():
            raise SigningError('signing key %s is protected by a passphrase that was not given or is wrong '
                               '(set dfir_signing_key_passphrase, or load the key into ssh-agent and give its .pub)' % key_path)
        raise SigningError('signing key %s cannot be loaded: %s' % (key_path, message or 'ssh-keygen failed'))
    return result.stdout.decode('ascii', 'replace').strip()


def check_agent_holds(key_path, public_key_line):
    """A public key signs only through ssh-agent: make sure the agent holds its private key now,
    before any host is touched, rather than find out when the case is to be sealed."""
    if not os.environ.get('SSH_AUTH_SOCK'):
        raise SigningError('signing key %s is a public key, so its private key must be in ssh-agent, '
                           'but no agent is reachable (SSH_AUTH_SOCK is not set)' % key_path)
    ssh_add = shutil.which('ssh-add')
    if not ssh_add:
        raise SigningError('ssh-add is not installed on the controller (Debian: apt-get install openssh-client)')
    try:
        listed = subprocess.run([ssh_add, '-L'], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, timeout=30, check=False)
    except subprocess.TimeoutExpired:
        raise SigningError('ssh-agent did not answer within 30s')
    if listed.returncode == 2:
        raise SigningError('signing key %s is a public key, but ssh-agent cannot be reached: %s'
                           % (key_path, _clean(listed.stderr)))
    wanted = public_key_line.split()[:2]
    held = [line.split()[:2] for line in listed.stdout.decode('ascii', 'replace').splitlines()]
    if wanted not in held:
        raise SigningError('signing key %s is a public key, and ssh-agent does not hold its private key '
                           '(ssh-add it, or give the private key)' % key_path)


def fingerprint(public_key_line):
    workdir = tempfile.mkdtemp(prefix='dfir-fp-')
    try:
        path = os.path.join(workdir, 'key.pub')
        with open(path, 'w') as handle:
            handle.write(public_key_line + '\n')
        result = _run(['-l', '-E', 'sha256', '-f', path])
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if result.returncode != 0:
        raise SigningError('cannot compute the fingerprint of the signing key: %s' % _clean(result.stderr))
    parts = result.stdout.decode('ascii', 'replace').split()
    return parts[1] if len(parts) > 1 else None


def sign(key_path, data_path, passphrase=None, namespace=NAMESPACE):
    """Write <data_path>.sig; raise SigningError naming the cause."""
    check_private_key(key_path)
    signature = data_path + '.sig'
    if os.path.lexists(signature):
        os.unlink(signature)
    workdir = tempfile.mkdtemp(prefix='dfir-sign-')
    try:
        result = _run(['-Y', 'sign', '-q', '-f', key_path, '-n', namespace, data_path],
                      env=_askpass_env(passphrase, workdir))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if result.returncode != 0 or not os.path.exists(signature):
        if os.path.lexists(signature):
            os.unlink(signature)
        message = _clean(result.stderr)
        if 'passphrase' in message.lower():
            raise SigningError('signing key %s: wrong or missing passphrase' % key_path)
        if 'agent' in message.lower() or 'Couldn\'t find key' in message:
            raise SigningError('signing key %s: no matching private key in ssh-agent (%s)' % (key_path, message))
        raise SigningError('signing with %s failed: %s' % (key_path, message or 'ssh-keygen failed'))
    return signature


def verify(allowed_signers, signer, data_path, signature_path, namespace=NAMESPACE, data=None):
    """Check a signature as `ssh-keygen -Y verify` does; return its one-line verdict.

    data: the signed bytes as the caller already read them from data_path (so that the bytes it goes
    on to use are exactly the ones checked here); read from data_path otherwise.
    """
    if not os.path.isfile(allowed_signers):
        raise SigningError('allowed_signers file %s does not exist' % allowed_signers)
    if not os.path.isfile(signature_path):
        raise SigningError('%s is missing: the case was never sealed' % os.path.basename(signature_path))
    command = ['-Y', 'verify', '-f', allowed_signers, '-I', signer, '-n', namespace, '-s', signature_path]
    if data is not None:
        result = _run(command, data=data)
    else:
        try:
            with open(data_path, 'rb') as handle:
                result = _run(command, stdin=handle)
        except OSError as exc:
            raise SigningError('%s cannot be read: %s' % (os.path.basename(data_path), exc.strerror or exc))
    verdict = (_clean(result.stdout) + ' ' + _clean(result.stderr)).strip()
    if result.returncode != 0:
        raise SigningError('the signature of %s does not verify for signer %s: %s'
                           % (os.path.basename(data_path), signer, verdict or 'ssh-keygen refused it'))
    return verdict
