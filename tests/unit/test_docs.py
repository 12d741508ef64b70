"""Every plugin documents itself so that ansible-doc shows it (YAML that parses into what was meant)."""

import ast
import json
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODULES = sorted(name[:-3] for name in os.listdir(os.path.join(REPO, 'plugins', 'modules'))
                 if name.endswith('.py') and not name.startswith('_'))
ACTIONS = sorted(name[:-3] for name in os.listdir(os.path.join(REPO, 'plugins', 'action')) if name.endswith('.py'))


def ansible_doc(plugin_type, names):
    from tests.support.ansible_run import ansible_bin, ansible_env
    command = [ansible_bin('ansible-doc'), '--json', '-t', plugin_type]
    process = subprocess.run(command + ['dfir.docker.%s' % name for name in names], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=ansible_env(), cwd='/', check=False)
    assert process.returncode == 0, process.stderr.decode()
    assert b'[WARNING]' not in process.stderr and b'[ERROR]' not in process.stderr, process.stderr.decode()
    return json.loads(process.stdout.decode())


def texts_are_strings(node, where):
    """A description that YAML turned into a mapping (an unquoted ': ') is a documentation bug."""
    problems = []
    if isinstance(node, dict):
        for key, value in node.items():
            option_named_so = isinstance(value, dict) and ('type' in value or 'description' in value)
            if key in ('description', 'short_description', 'notes', 'requirements') and not option_named_so:
                items = value if isinstance(value, list) else [value]
                problems.extend('%s.%s: %r' % (where, key, item) for item in items if not isinstance(item, str))
            else:
                problems.extend(texts_are_strings(value, '%s.%s' % (where, key)))
    elif isinstance(node, list):
        for index, item in enumerate(node):
            problems.extend(texts_are_strings(item, '%s[%d]' % (where, index)))
    return problems


def test_every_action_plugin_has_a_documentation_stub():
    assert set(ACTIONS) <= set(MODULES)


def test_ansible_doc_shows_every_module_and_its_texts_are_text():
    docs = ansible_doc('module', MODULES)
    assert sorted(name.split('.')[-1] for name in docs) == MODULES
    for name, entry in docs.items():
        assert entry['doc']['short_description'], name
        assert entry['examples'], name
        assert entry['return'], name
        assert texts_are_strings(entry['doc'], name) == []
        assert texts_are_strings(entry['return'], name + '.return') == []


def test_ansible_doc_shows_the_filter_and_every_role():
    docs = ansible_doc('filter', ['select_containers'])
    assert texts_are_strings(docs['dfir.docker.select_containers']['doc'], 'select_containers') == []
    roles = sorted(os.listdir(os.path.join(REPO, 'roles')))
    docs = ansible_doc('role', roles)
    for name in roles:
        entry = docs['dfir.docker.%s' % name]['entry_points']['main']
        assert texts_are_strings(entry, name) == []


HOST_SIDE = ['plugins/modules/%s.py' % name for name in MODULES if name not in ACTIONS] + [
    'plugins/module_utils/%s' % name for name in sorted(os.listdir(os.path.join(REPO, 'plugins', 'module_utils')))
    if name.endswith('.py')]
PURE_CORE = [path for path in HOST_SIDE if path.startswith('plugins/module_utils/') and not path.endswith('_common.py')]


def imported_modules(path):
    with open(os.path.join(REPO, path)) as handle:
        tree = ast.parse(handle.read(), path)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            yield node.module


@pytest.mark.parametrize('path', HOST_SIDE)
def test_host_side_code_imports_the_standard_library_and_ansible_module_utils_only(path):
    allowed = ('ansible.module_utils', 'ansible_collections.dfir.docker.plugins.module_utils')
    foreign = [name for name in imported_modules(path)
               if name.split('.')[0] not in sys.stdlib_module_names and not name.startswith(allowed)]
    assert foreign == []
    if path.endswith('_common.py') or path.startswith('plugins/modules/'):
        return
    assert [name for name in imported_modules(path) if name.startswith('ansible.')] == [], 'the pure core imports Ansible'


@pytest.mark.parametrize('path', PURE_CORE)
def test_the_pure_core_imports_in_the_hosts_own_python_with_nothing_else(path):
    module = 'ansible_collections.dfir.docker.' + path[:-3].replace('/', '.')
    from tests.support.ansible_run import collections_path
    code = 'import sys; sys.path.insert(0, %r); import %s' % (collections_path(), module)
    process = subprocess.run(['/usr/bin/python3', '-I', '-S', '-c', code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
    assert process.returncode == 0, process.stderr.decode()
