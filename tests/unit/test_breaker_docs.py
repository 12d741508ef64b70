"""Docs against what the collection ships: defects found by attacking main (see tests/integration/test_breaker.py)."""

import os
import re

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def readme_section(title):
    with open(os.path.join(REPO, 'README.md'), encoding='utf-8') as handle:
        text = handle.read()
    start = text.index('\n## %s\n' % title)
    end = text.find('\n## ', start + 1)
    return text[start:end if end != -1 else len(text)]


def shipped_modules():
    """Every module and action plugin ansible-doc documents (a doc stub for each action plugin is in modules/)."""
    return sorted(name[:-3] for name in os.listdir(os.path.join(REPO, 'plugins', 'modules'))
                  if name.endswith('.py') and not name.startswith('_'))


def test_the_readmes_module_table_names_every_module_the_collection_ships():
    """The README sends users to its table ("Each one's documentation: ansible-doc dfir.docker.<name>"):
    a module missing there is a module a responder does not know exists."""
    table = readme_section('Modules and plugins')
    listed = set(re.findall(r'^\| `([a-z_]+)`', table, re.MULTILINE))
    missing = [name for name in shipped_modules() if name not in listed]
    assert missing == [], 'modules the README does not list: %s' % ', '.join(missing)
