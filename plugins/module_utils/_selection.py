# -*- coding: utf-8 -*-
# Copyright: dfir.docker contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Turning what a user typed (id, id prefix, name) into container ids.

Private to the collection.  The rules are Docker's own: a full id first,
then an exact name, then a unique id prefix.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class SelectionError(Exception):
    def __init__(self, requested, message, matches=None):
        Exception.__init__(self, message)
        self.requested = requested
        self.matches = matches or []


def resolve_one(requested, containers):
    """Return the id `requested` names among `containers` ((id, name) pairs)."""
    wanted = (requested or '').strip()
    if not wanted:
        raise SelectionError(requested, 'an empty container reference was given')
    for container_id, _name in containers:
        if container_id == wanted:
            return container_id
    bare = wanted.lstrip('/')
    for container_id, name in containers:
        if name and name.lstrip('/') == bare:
            return container_id
    lowered = wanted.lower()
    matches = sorted(set(container_id for container_id, _name in containers if container_id.startswith(lowered)))
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise SelectionError(requested, 'no container has the id, id prefix or name %r' % requested)
    described = ', '.join('%s (%s)' % (container_id[:12], dict(containers).get(container_id) or 'no name')
                          for container_id in matches)
    raise SelectionError(requested, 'the id prefix %r matches %d containers: %s; give more of the id' % (
        requested, len(matches), described), matches)


def resolve(requested_list, containers):
    """Resolve many references; return (ids in request order, without repeats; errors)."""
    if not requested_list:
        return [container_id for container_id, _name in containers], []
    resolved, errors = [], []
    for requested in requested_list:
        try:
            container_id = resolve_one(requested, containers)
        except SelectionError as exc:
            errors.append(exc)
            continue
        if container_id not in resolved:
            resolved.append(container_id)
    return resolved, errors
