"""Run the collection's modules and playbooks the way users do: through Ansible's own CLI."""

import json
import os
import shutil
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def collections_path():
    """Where Ansible finds this checkout as dfir.docker: DFIR_COLLECTIONS_PATH, else the tree that holds it
    when it already sits at .../ansible_collections/dfir/docker (ansible-test's copy, an installed
    collection), else the checkout's .venv/collections (scripts/bootstrap.sh links it there)."""
    if os.environ.get('DFIR_COLLECTIONS_PATH'):
        return os.environ['DFIR_COLLECTIONS_PATH']
    parts = REPO.rstrip('/').split('/')
    if parts[-3:] == ['ansible_collections', 'dfir', 'docker']:
        return '/'.join(parts[:-3])
    return os.path.join(REPO, '.venv', 'collections')


def ansible_bin(name):
    """An Ansible command: beside this Python (the venv), else the one on PATH (ansible-test's)."""
    beside = os.path.join(os.path.dirname(sys.executable), name)
    return beside if os.path.exists(beside) else (shutil.which(name) or beside)


# Modules run on "hosts" with Debian's own Python: the standard library only, like a suspect host.
HOST_PYTHON = os.environ.get('DFIR_HOST_PYTHON', '/usr/bin/python3')


def ansible_env(extra=None):
    env = dict(os.environ)
    venv_bin = os.path.dirname(sys.executable)
    env['PATH'] = venv_bin + os.pathsep + env.get('PATH', '')
    env['ANSIBLE_COLLECTIONS_PATH'] = collections_path()
    env['ANSIBLE_COLLECTIONS_SCAN_SYS_PATH'] = 'false'
    env['ANSIBLE_HOST_KEY_CHECKING'] = 'false'
    env['ANSIBLE_RETRY_FILES_ENABLED'] = 'false'
    env['ANSIBLE_DEPRECATION_WARNINGS'] = 'false'
    env['ANSIBLE_LOCALHOST_WARNING'] = 'false'
    env['ANSIBLE_INVENTORY_UNPARSED_WARNING'] = 'false'
    env.update(extra or {})
    return env


def run_module(name, args, check_mode=False, become=False, timeout=900, wrap=()):
    """Run dfir.docker.<name> on localhost through `ansible`; return its result dict.
    `wrap`: a command that runs ansible's, e.g. unshare and a shell that mounts something first."""
    command = list(wrap) + [ansible_bin('ansible'), 'localhost', '-c', 'local',
                            '-e', 'ansible_python_interpreter=%s' % HOST_PYTHON,
                            '-m', 'dfir.docker.%s' % name, '-a', json.dumps(args)]
    if check_mode:
        command.append('--check')
    if become:
        command.append('--become')
    env = ansible_env({'ANSIBLE_STDOUT_CALLBACK': 'ansible.builtin.minimal', 'ANSIBLE_NOCOLOR': '1'})
    process = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, timeout=timeout, cwd='/', check=False)
    text = process.stdout.decode(errors='replace')
    # minimal callback: "localhost | SUCCESS => {json}" or "localhost | FAILED! => {json}"
    marker = text.find(' => ')
    try:
        result = json.loads(text[marker + 4:])
    except ValueError:
        raise AssertionError('ansible printed no result (rc %s): %s %s' % (process.returncode, text[-3000:], process.stderr.decode(errors='replace')[-3000:]))
    # The minimal callback drops `failed` from the result (the status word before " => " says it)
    # and prints warnings on stderr only: put both back, so tests can tell a failure and read warnings.
    result.setdefault('failed', text[:marker].rstrip().endswith(('FAILED!', 'UNREACHABLE!')))
    result.setdefault('warnings', [line[len('[WARNING]: '):] for line in process.stderr.decode(errors='replace').splitlines()
                                   if line.startswith('[WARNING]: ')])
    return result


def run_playbook(playbook, extra_vars=None, inventory='localhost,', args=(), timeout=1800, env=None):
    """Run a playbook; return (returncode, combined output)."""
    command = [ansible_bin('ansible-playbook'), '-i', inventory, playbook]
    for key, value in (extra_vars or {}).items():
        command += ['-e', json.dumps({key: value})]
    command += list(args)
    process = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             env=ansible_env(env), timeout=timeout, cwd=REPO, check=False)
    return process.returncode, process.stdout.decode(errors='replace')
