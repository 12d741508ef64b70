# -*- coding: utf-8 -*-
# Copyright: dfir.docker contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""User and group ids across a user namespace, both ways.

Private to the collection; pure functions, no I/O.

An *id map* is what ``/proc/<pid>/uid_map`` (or ``gid_map``) holds: lines of
``<first id inside> <first id outside> <count>``.  Read by a process of the
host's user namespace, "outside" is the host's id, whatever the nesting.
The ranges of ``/etc/subuid`` and ``/etc/subgid`` (``name:start:count``)
are turned into the same shape the way Docker does for ``userns-remap``:
container ids start at 0 and run on through the ranges in file order.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class IdMapError(ValueError):
    """An id map or a subordinate id file does not parse."""


def parse_id_map(text):
    """Parse uid_map/gid_map text into [{inside, outside, count}], in file order."""
    ranges = []
    for number, line in enumerate(text.splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 3:
            raise IdMapError('line %d of the id map has %d fields, not 3: %r' % (number, len(fields), line))
        try:
            inside, outside, count = (int(field) for field in fields)
        except ValueError:
            raise IdMapError('line %d of the id map is not three numbers: %r' % (number, line))
        ranges.append({'inside': inside, 'outside': outside, 'count': count})
    return ranges


def to_outside(value, ranges):
    """The host id that id `value` inside the namespace stands for; None when unmapped."""
    for item in ranges:
        if item['inside'] <= value < item['inside'] + item['count']:
            return item['outside'] + value - item['inside']
    return None


def to_inside(value, ranges):
    """The id inside the namespace that host id `value` appears as; None when unmapped.

    An unmapped id shows inside as the overflow id (65534 by default), which
    says nothing about who it is; None says so honestly.
    """
    for item in ranges:
        if item['outside'] <= value < item['outside'] + item['count']:
            return item['inside'] + value - item['outside']
    return None


def both_ways(value, ranges):
    """One id looked up in both directions through one map."""
    return {'id': value, 'inside_to_host': to_outside(value, ranges), 'host_to_inside': to_inside(value, ranges)}


def parse_subid(text):
    """Parse /etc/subuid or /etc/subgid: [{name, start, count}]; returns (entries, problems)."""
    entries, problems = [], []
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith('#'):
            continue
        fields = stripped.split(':')
        if len(fields) != 3:
            problems.append('line %d is not name:start:count: %r' % (number, line))
            continue
        try:
            start, count = int(fields[1]), int(fields[2])
        except ValueError:
            problems.append('line %d has a start or count that is not a number: %r' % (number, line))
            continue
        entries.append({'name': fields[0], 'start': start, 'count': count})
    return entries, problems


def subid_ranges(entries, names):
    """The ranges of the first of `names` (a user name or a numeric id) that has any."""
    for name in names:
        if name is None:
            continue
        found = [entry for entry in entries if entry['name'] == str(name)]
        if found:
            return str(name), found
    return None, []


def remap_id_map(ranges):
    """The id map Docker builds for userns-remap from subordinate ranges."""
    mapping, inside = [], 0
    for entry in ranges:
        mapping.append({'inside': inside, 'outside': entry['start'], 'count': entry['count']})
        inside += entry['count']
    return mapping
