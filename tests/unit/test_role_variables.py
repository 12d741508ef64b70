"""The roles' variables: dfir_* is the documented interface, everything the roles set themselves is __dfir_*."""

import glob
import os
import re

import pytest
import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ROLES = sorted(os.path.basename(path) for path in glob.glob(os.path.join(REPO, 'roles', '*')))
PUBLIC = re.compile(r'(?<![A-Za-z0-9_])dfir_[a-z0-9_]+')


def load(path):
    with open(path, encoding='utf-8') as handle:
        return yaml.safe_load(handle) or {}


def documented():
    """Every option of every role's argument_specs (the roles share one set of names)."""
    names = set()
    for role in ROLES:
        specs = load(os.path.join(REPO, 'roles', role, 'meta', 'argument_specs.yml'))['argument_specs']
        for entry in specs.values():
            names.update(entry.get('options') or {})
    return names


def tasks():
    """(file, task) for every task of the roles' task files, blocks and rescues included."""
    def walk(items, path):
        for task in items or []:
            yield path, task
            for key in ('block', 'rescue', 'always'):
                yield from walk(task.get(key), path)
    for path in sorted(glob.glob(os.path.join(REPO, 'roles', '*', 'tasks', '*.yml'))):
        yield from walk(load(path), os.path.relpath(path, REPO))


def set_by_the_roles():
    """(file, name) of every variable a role sets for itself: register, set_fact, task vars, vars/."""
    for path, task in tasks():
        if task.get('register'):
            yield path, task['register']
        for module in ('ansible.builtin.set_fact', 'set_fact'):
            for name in (task.get(module) or {}):
                yield path, name
        if task.get('include_role') or task.get('ansible.builtin.include_role'):
            continue   # vars passed to an included role are that role's documented options
        for name in (task.get('vars') or {}):
            yield path, name
    for path in sorted(glob.glob(os.path.join(REPO, 'roles', '*', 'vars', '*.yml'))):
        for name in load(path):
            yield os.path.relpath(path, REPO), name


def strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from strings(key)
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def test_every_variable_the_roles_set_for_themselves_is_named___dfir():
    wrong = sorted(set('%s: %s' % item for item in set_by_the_roles() if not item[1].startswith('__dfir_')))
    assert wrong == [], 'internal variables without the __dfir_ prefix: %s' % wrong


def test_the_roles_set_none_of_their_documented_variables():
    clashes = sorted(set('%s: %s' % item for item in set_by_the_roles() if item[1] in documented()))
    assert clashes == []


@pytest.mark.parametrize('role', ROLES)
def test_every_dfir_variable_a_role_reads_is_documented(role):
    used = set()
    for path, task in tasks():
        if path.startswith('roles/%s/' % role):
            for text in strings(task):
                used.update(PUBLIC.findall(text))
    for path in glob.glob(os.path.join(REPO, 'roles', role, 'vars', '*.yml')):
        for text in strings(load(path)):
            used.update(PUBLIC.findall(text))
    assert sorted(used - documented()) == []
