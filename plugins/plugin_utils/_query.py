# -*- coding: utf-8 -*-
# Copyright: dfir.docker contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""JMESPath selection of containers; controller side only (jmespath is not needed on hosts)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

try:
    import jmespath
    JMESPATH_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - depends on the controller
    jmespath = None
    JMESPATH_IMPORT_ERROR = exc


class QueryError(Exception):
    pass


def compile_query(query):
    """Parse a JMESPath expression once, or say plainly what is wrong with it."""
    if jmespath is None:
        raise QueryError('dfir_select needs the Python package jmespath on the controller (pip install jmespath)')
    try:
        return jmespath.compile(query)
    except jmespath.exceptions.JMESPathError as exc:
        raise QueryError('dfir_select %r is not a valid JMESPath expression: %s' % (query, ' '.join(str(exc).split())))


def search(query, containers):
    """Container ids the expression selects; it may return container objects or ids."""
    try:
        found = compile_query(query).search(containers)
    except jmespath.exceptions.JMESPathError as exc:
        raise QueryError('dfir_select %r failed on the containers: %s' % (query, exc))
    if found is None:
        return set()
    if not isinstance(found, list):
        found = [found]
    ids = set()
    for item in found:
        if isinstance(item, dict) and item.get('id'):
            ids.add(item['id'])
        elif isinstance(item, str):
            ids.add(item)
    return ids
