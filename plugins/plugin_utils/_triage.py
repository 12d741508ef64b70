# -*- coding: utf-8 -*-
# Copyright: dfir.docker contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The triage summary of a case: one row per container, with what deserves a closer look.

Private to the collection; controller side only, no Ansible import.

Every number is read back from the artifacts the case holds (each host's
engine.json, and per container processes.json and changes.json, as their
collection.json records them), never from the run's memory: triage.json
can be recomputed from the sealed evidence by anyone.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

from ansible_collections.dfir.docker.plugins.plugin_utils import _case
from ansible_collections.dfir.docker.plugins.plugin_utils._hosts import host_status

FORMAT = 'dfir.docker/triage/1'
TRIAGE = 'triage.json'


def _artifact_paths(collection):
    """{(container id or None, kind): path in the host dir} of the artifacts a host's collection recorded."""
    paths = {}
    for artifact in collection.get('artifacts') or []:
        paths.setdefault((artifact.get('container_id'), artifact.get('kind')), artifact['path'])
    return paths


def _load(host_dir, relative):
    if relative is None:
        return None
    try:
        with open(os.path.join(host_dir, relative), 'rb') as handle:
            return json.loads(handle.read().decode('utf-8'))
    except (OSError, ValueError):
        return None


def change_counts(report):
    """{added, changed, deleted, total} from container_changes' changes.json report (counts A, C, D), or None."""
    counts = (report or {}).get('counts') if isinstance(report, dict) else None
    if not isinstance(counts, dict):
        return None
    found = {'added': counts.get('A', 0), 'changed': counts.get('C', 0), 'deleted': counts.get('D', 0)}
    found['total'] = sum(found.values())
    return found


def signals(facts, processes, disagreements):
    """Short reasons to look at a container first; none is proof of anything."""
    found = []
    if facts.get('privileged'):
        found.append('privileged')
    for key, label in (('pid_mode', 'pid'), ('network_mode', 'network'), ('userns_mode', 'userns')):
        if facts.get(key) == 'host':
            found.append('%s=host' % label)
    for process in processes or []:
        if process.get('exe_deleted'):
            exe = str(process.get('exe'))
            if exe.endswith(' (deleted)'):  # as the kernel shows it in /proc/<pid>/exe
                exe = exe[:-len(' (deleted)')]
            found.append('deleted executable %s (host pid %s)' % (exe, process.get('host_pid')))
    for item in disagreements:
        found.append('daemon and disk disagree on %s' % item.get('field'))
    if facts.get('known_to_daemon') is False:
        found.append('on disk but not known to the daemon')
    if facts.get('host_config_error'):
        # a host config that cannot be read hides privileged and host namespaces, so the row is no all-clear
        found.append('host config unreadable: privileged and namespaces unknown')
    return found


def container_row(host, facts, paths, host_dir, disagreements, selected):
    container_id = facts.get('id')
    process_map = _load(host_dir, paths.get((container_id, 'process_map')))
    processes = (process_map or {}).get('processes')
    changes = change_counts(_load(host_dir, paths.get((container_id, 'container_changes_report'))))
    return {
        'host': host,
        'id': container_id,
        'name': facts.get('name'),
        'image': facts.get('image'),
        'state': facts.get('state'),
        'running': facts.get('running'),
        'started_at': facts.get('started_at'),
        'selected': selected,
        'processes': None if process_map is None else len(processes or []),
        'users': sorted(set(str((process.get('container_user_names') or {}).get('effective')
                                or (process.get('container_uids') or {}).get('effective'))
                            for process in processes or [])),
        # What container_changes counted in the writable layer against the layers below (docker diff's
        # A, C and D, read from the layers on disk, live or not); None when it did not run for this container.
        'changes': changes,
        'signals': signals(facts, processes, disagreements),
    }


def host_summary(case_dir, host, collection, failures):
    status = host_status(host, collection, failures)
    summary = {'name': host, 'status': status['status'], 'reason': status['reason'], 'engine': None,
               'containers': 0, 'running': 0, 'selected': status.get('containers_selected'), 'note': status.get('note')}
    rows = []
    if collection is None:
        return summary, rows
    host_dir = _case.host_dir(case_dir, host)
    paths = _artifact_paths(collection)
    report = _load(host_dir, paths.get((None, 'engine_facts'))) or {}
    engine = report.get('engine') or {}
    if engine:
        summary['engine'] = dict((key, engine.get(key)) for key in (
            'source', 'version', 'storage_driver', 'docker_root', 'userns_remap', 'rootless'))
    containers = report.get('containers') or []
    summary['containers'] = len(containers)
    summary['running'] = len([item for item in containers if item.get('running')])
    selected = set(collection.get('selected_containers') or [])
    by_container = {}
    for item in report.get('disagreements') or []:
        by_container.setdefault(item.get('container_id'), []).append(item)
    for facts in containers:
        rows.append(container_row(host, facts, paths, host_dir, by_container.get(facts.get('id'), []),
                                  facts.get('id') in selected))
    return summary, rows


def summarize(case_dir, case_id, hosts, failures=None):
    """The triage document of a case whose hosts were fetched (before or after sealing)."""
    collections = _case.collections(case_dir)
    names = list(dict.fromkeys(list(hosts) + sorted(collections)))
    host_summaries, rows = [], []
    for name in names:
        summary, host_rows = host_summary(case_dir, name, collections.get(name), failures or {})
        host_summaries.append(summary)
        rows.extend(host_rows)
    rows.sort(key=interest)
    return {
        'format': FORMAT,
        'case_id': case_id,
        'generated_at': _case.utc_now(),
        'derived_from': 'hosts/<host>/engine.json, and per selected container processes.json and changes.json',
        'hosts': host_summaries,
        'containers': rows,
        'totals': {
            'hosts': len(host_summaries),
            'hosts_failed': len([item for item in host_summaries if item['status'] == 'failed']),
            'containers': len(rows),
            'running': len([row for row in rows if row['running']]),
            'with_signals': len([row for row in rows if row['signals']]),
            'changed_paths': sum((row['changes'] or {}).get('total', 0) for row in rows),
        },
    }


def interest(row):
    """Sort key: containers with signals first, then the most changed, then by host and name."""
    return (-len(row['signals']), -((row['changes'] or {}).get('total') or 0), row['host'], row['name'] or '')


def _changes_text(changes):
    if changes is None:
        return '-'
    return 'A%d C%d D%d' % (changes['added'], changes['changed'], changes['deleted'])


def table(document, show=20):
    """The run's summary: a line per host, then the containers most worth a look, as text lines."""
    lines = ['%-16s %-9s %-4s %-12s %10s %8s %9s  %s' % (
        'host', 'status', 'src', 'engine', 'containers', 'running', 'selected', 'note')]
    for host in document['hosts']:
        engine = host['engine'] or {}
        lines.append('%-16s %-9s %-4s %-12s %10d %8d %9s  %s' % (
            host['name'][:16], host['status'], engine.get('source') or '-', (engine.get('version') or '-')[:12],
            host['containers'], host['running'], '-' if host['selected'] is None else host['selected'],
            host['reason'] or host['note'] or ''))
    rows = [row for row in document['containers'] if row['selected']][:show]
    if rows:
        lines.append('%-16s %-24s %-9s %5s %-16s  %s' % ('host', 'container', 'state', 'procs', 'changes', 'signals'))
    for row in rows:
        lines.append('%-16s %-24s %-9s %5s %-16s  %s' % (
            row['host'][:16], (row['name'] or row['id'][:12])[:24], row['state'] or '-',
            '-' if row['processes'] is None else row['processes'], _changes_text(row['changes']),
            '; '.join(row['signals']) or '-'))
    hidden = len([row for row in document['containers'] if row['selected']]) - len(rows)
    if hidden > 0:
        lines.append('... and %d more selected container(s) in %s' % (hidden, TRIAGE))
    return lines


def write(case_dir, document):
    path = os.path.join(case_dir, TRIAGE)
    _case.write_json(path, document)
    return path
