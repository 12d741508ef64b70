# -*- coding: utf-8 -*-
# Copyright: dfir.docker contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the daemon says a container changed in its filesystem (GET /containers/{id}/changes).

Private to the collection; standard library only. Used on the host by
container_changes and on the controller by the triage summary, which reads
the daemon's answer back from the case.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# The Kind of each entry in the daemon's answer (moby pkg/archive ChangeType).
CHANGE_KINDS = {0: 'changed', 1: 'added', 2: 'deleted'}


def count_changes(entries):
    """Counts by kind of the daemon's change list: {added, changed, deleted, total}; entries may be null."""
    counts = dict((name, 0) for name in CHANGE_KINDS.values())
    for entry in entries or []:
        kind = CHANGE_KINDS.get(entry.get('Kind')) if isinstance(entry, dict) else None
        if kind:
            counts[kind] += 1
    counts['total'] = sum(counts.values())
    return counts
