# -*- coding: utf-8 -*-
# Copyright: dfir.docker contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Each host's outcome in a case: collected, partial or failed, and why.

Private to the collection; controller side only, no Ansible import. Shared by
case_seal (the manifest's hosts) and triage_summary (triage.json).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

NOT_FETCHED = 'unreachable, or failed before anything was fetched (see the run output)'


def host_status(name, collection, failures):
    """One host's line in the manifest: collected, partial or failed, and why."""
    if collection is None:
        reason = failures.get(name) or NOT_FETCHED
        return {'name': name, 'status': 'failed', 'reason': reason, 'artifacts': 0}
    step_errors = []
    for step in collection.get('steps') or []:
        if step.get('failed'):
            step_errors.append('%s: %s' % (step.get('step'), step.get('msg')))
    reasons = []
    if collection.get('host_failure'):
        reasons.append(collection['host_failure'])
    reasons.extend(step_errors)
    reasons.extend(collection.get('fetch_problems') or [])
    # Evidence left on the host, not in the case (see evidence_fetch): the collection is not complete.
    staging = collection.get('staging') or {}
    if staging.get('problem'):
        reasons.append(staging['problem'])
    artifacts = len(collection.get('artifacts') or [])
    status = 'collected'
    if reasons:
        # A host that failed before any artifact arrived holds nothing to examine: failed, not partial.
        status = 'failed' if collection.get('host_failure') and not artifacts else 'partial'
    selected = collection.get('selected_containers')
    return {
        'name': name,
        'status': status,
        'reason': '; '.join(reasons) or None,
        'artifacts': artifacts,
        'containers_selected': None if selected is None else len(selected),
        'note': 'the selection matched no container on this host' if selected == [] else None,
        'evidence_dir': collection.get('evidence_dir'),
        'fetched_at': collection.get('fetched_at'),
        'staging': collection.get('staging'),
        'steps': collection.get('steps'),
    }


def host_line(status):
    """One host's line in the run's summary."""
    line = '%s: %s, %d artifact(s)' % (status['name'], status['status'], status['artifacts'])
    if status.get('containers_selected') is not None:
        line += ', %d container(s) selected' % status['containers_selected']
    for extra in (status.get('note'), status.get('reason')):
        if extra:
            line += ' - %s' % extra
    return line
