"""Run the collection's modules and playbooks the way users do: through Ansible's own CLI."""

import json
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Modules run on "hosts" with Debian's own Python: the standard library only, like a suspect host.
HOST_PYTHON = os.environ.get('DFIR_HOST_PYTHON', '/usr/bin/python3')


def ansible_env(extra=None):
    env = dict(os.environ)
    venv_bin = os.path.dirname(sys.executable)
    env['PATH'] = venv_bin + os.pathsep + env.get('PATH', '')
    env['ANSIBLE_COLLECTIONS_PATH'] = os.environ.get('DFIR_COLLECTIONS_PATH', os.path.join(REPO, '.venv', 'collections'))
    env['ANSIBLE_COLLECTIONS_SCAN_SYS_PATH'] = 'false'
    env['ANSIBLE_HOST_KEY_CHECKING'] = 'false'
    env['ANSIBLE_RETRY_FILES_ENABLED'] = 'false'
    env['ANSIBLE_DEPRECATION_WARNINGS'] = 'false'
    env['ANSIBLE_LOCALHOST_WARNING'] = 'false'
    env['ANSIBLE_INVENTORY_UNPARSED_WARNING'] = 'false'
    env.update(extra or {})
    return env


def run_module(name, args, check_mode=False, become=False, timeout=900):
    """Run dfir.docker.<name> on localhost through `ansible`; return its result dict."""
    command = [os.path.join(os.path.dirname(sys.executable), 'ansible'), 'localhost', '-c', 'local',
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
    # The callback prints the outcome before the JSON, which then lacks 'failed'.
    result.setdefault('failed', ' | FAILED!' in text[:marker])
    return result


def run_playbook(playbook, extra_vars=None, inventory='localhost,', args=(), timeout=1800, env=None):
    """Run a playbook; return (returncode, combined output)."""
    command = [os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), '-i', inventory, playbook]
    for key, value in (extra_vars or {}).items():
        command += ['-e', json.dumps({key: value})]
    command += list(args)
    process = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             env=ansible_env(env), timeout=timeout, cwd=REPO, check=False)
    return process.returncode, process.stdout.decode(errors='replace')
