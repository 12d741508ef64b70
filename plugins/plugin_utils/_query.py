# -*- coding: utf-8 -*-
# Copyright: dfir.docker contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""JMESPath selection of containers; controller side only (jmespath is not needed on hosts)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from ansible_collections.dfir.docker.plugins.module_utils._selection import SelectionError, resolve_one

try:
    import jmespath
    JMESPATH_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - depends on the controller
    jmespath = None
    JMESPATH_IMPORT_ERROR = exc

# What the expression may return, said in every message about a result that names no container.
RETURNS = ('dfir_select must return containers (like [?running]) or their ids, unique id prefixes or names '
           '(like [?running].name)')


class QueryError(Exception):
    pass


def _short(text, limit=300):
    text = ' '.join(str(text).split())
    return text if len(text) <= limit else text[:limit] + '...'


def compile_query(query):
    """Parse a JMESPath expression once, or say plainly what is wrong with it."""
    if jmespath is None:
        raise QueryError('dfir_select needs the Python package jmespath on the controller (pip install jmespath)')
    try:
        return jmespath.compile(query)
    except jmespath.exceptions.JMESPathError as exc:
        raise QueryError('dfir_select %r is not a valid JMESPath expression: %s' % (query, ' '.join(str(exc).split())))


def search(query, containers):
    """The ids of the containers the expression selects, and a message for each item of its result that
    names none of them. The result may hold container objects, full ids, unique id prefixes or names."""
    compiled = compile_query(query)
    try:
        found = compiled.search(containers)
    except jmespath.exceptions.JMESPathError as exc:
        raise QueryError("dfir_select failed on this host's containers: %s; the expression %r parses, but not every "
                         "container has what it expects (the fields of each container are in this host's engine.json)"
                         % (_short(exc), query))
    if found is None:
        return set(), []
    if not isinstance(found, list):
        found = [found]
    pairs = [(item['id'], item.get('name')) for item in containers if isinstance(item, dict) and item.get('id')]
    ids, unmatched = set(), []
    for item in found:
        reference = item.get('id') if isinstance(item, dict) else item
        if not isinstance(reference, str):
            unmatched.append('%s is not a container, an id or a name' % _short(json.dumps(item, sort_keys=True, default=str), 80))
            continue
        try:
            ids.add(resolve_one(reference, pairs))
        except SelectionError as exc:
            unmatched.append(exc.short)
    return ids, unmatched


def unmatched_message(query, unmatched):
    return 'dfir_select %r returned %d item(s) that name no container of this host: %s. %s' % (
        query, len(unmatched), '; '.join(unmatched[:10]) + ('; ...' if len(unmatched) > 10 else ''), RETURNS)
