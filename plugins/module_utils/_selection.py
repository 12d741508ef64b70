# -*- coding: utf-8 -*-
# Copyright: dfir.docker contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Turning what a user typed (id, id prefix, name) into container ids.

Private to the collection.  The rules are Docker's own: a full id first,
then an exact name, then a unique id prefix.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


# How many containers an error about an unknown reference lists.
CANDIDATES_SHOWN = 20


class SelectionError(Exception):
    def __init__(self, requested, message, matches=None, short=None):
        Exception.__init__(self, message)
        self.requested = requested
        self.matches = matches or []
        # The message without the list of candidates, for where one line per reference matters.
        self.short = short or message


def describe_candidates(containers, limit=CANDIDATES_SHOWN):
    """'name (short id), ...' of (id, name) pairs, at most `limit` of them, sorted by name."""
    if not containers:
        return 'there is no container'
    ordered = sorted(containers, key=lambda pair: ((pair[1] or '').lstrip('/') or '~', pair[0]))
    shown = ', '.join('%s (%s)' % ((name or '').lstrip('/') or 'no name', container_id[:12])
                      for container_id, name in ordered[:limit])
    more = len(ordered) - limit
    return 'the containers are: %s%s' % (shown, ' and %d more' % more if more > 0 else '')


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
        short = 'no container has the id, id prefix or name %r' % requested
        raise SelectionError(requested, '%s; %s' % (short, describe_candidates(containers)), short=short)
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
