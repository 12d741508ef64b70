#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: dfir.docker contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: whiteouts
short_description: What was deleted in each container layer, what it was, where it came from, and the originals back
version_added: 0.1.0
description:
  - On overlay2, overlay and aufs a deletion leaves a marker in the layer that made it while the original stays in
    a layer below. For each container, this module finds every deletion marker in its writable layer, its init layer
    and each of its image layers, and says what each one hides.
  - Markers are overlay whiteouts (character devices 0/0), opaque directories (C(trusted.overlay.opaque) or
    C(user.overlay.opaque) set to C(y)), aufs C(.wh.<name>) files and C(.wh..wh..opq).
  - For each marker, C(containers/<full id>/whiteouts.jsonl) holds one JSON line with the path (raw bytes, escaped
    for display), the layer holding the marker (writable, init, or image layer N with its diff id and the build step
    that made it), the marker's own times and owner, its C(effect), and C(hides), every lower layer's copy of the path
    (diff id, index, C(created_by), type, size, mode, owner, mtime, SHA-256, and whether the container saw it).
    For a deleted or replaced directory, one more line per entry under it follows (C(record=hidden)), each from its
    own layer; a deleted C(/usr) is streamed, never held in memory.
  - C(effect) is V(deleted) (a whiteout over what the container saw), V(replaced) (an opaque directory over a
    directory or file below, hiding everything below), V(new_directory) (an opaque directory with nothing below,
    not a deletion), V(renamed) (the whiteout a C(redirect_dir) rename leaves at the old name; C(renamed_to) names
    the new one), V(nothing_visible) (what it names below was already hidden) or V(nothing_below).
  - Each image layer's markers are checked against the record Docker keeps of the tar the layer was made from
    (C(tar-split.json.gz) in the layer database). A marker recorded there but missing from the layer directory (a
    copy that lost its device files, or a marker removed) is a C(record=marker_missing) line naming what it would
    hide; a marker on disk that the record lacks (added afterwards) has C(recorded_in_layer_tar=false).
  - With O(recover), the hidden originals are written into C(containers/<full id>/whiteouts-recovered.tar) (PAX,
    hashed while written, the same format as M(dfir.docker.container_export)), under C(container-layer/),
    C(init-layer/) or C(image-layer-<index>/) followed by the container path; C(whiteouts.json) beside it has the
    counts, the layer table, what could not be read and the recovery report.
  - Read from the layers on disk, for running, stopped and dead containers alike, live or from a dead host's Docker
    root, without mounting anything, through a detached read-only, noatime view of the Docker root where the kernel
    allows it (as M(dfir.docker.container_export)). Nothing is written into a container or its layers.
author:
  - dfir.docker contributors (@dfir-docker)
extends_documentation_fragment:
  - dfir.docker.common
  - dfir.docker.common.containers
options:
  evidence_dir:
    description:
      - The staging directory on the host that artifacts are written into, created (mode 0700) when missing. Each
        artifact is hashed while written and renamed only when complete; a failed one is removed and not recorded.
      - Required unless O(counts_only) is set.
      - Keep it off the filesystem that holds the Docker root when you can.
      - Refused before anything is created when it is, or would be once created, inside a Docker root (the
        O(docker_root) given or read, the live daemon's C(DockerRootDir), C(/var/lib/docker), or the root that holds
        a user-namespace-remapped one; symlinks resolved, bind mounts of a root recognised). The error names both paths.
    type: path
  layers:
    description: Which layers to look for markers in.
    type: list
    elements: str
    choices: [container, init, image]
    default: [container, init, image]
  hash:
    description: Compute the SHA-256 of every hidden regular file (read with C(O_NOATIME), never through a symlink).
    type: bool
    default: true
  recover:
    description: Write the hidden originals of the markers in O(recover_layers) into a tar.
    type: bool
    default: false
  recover_layers:
    description:
      - Whose markers' originals O(recover) writes. V(container) is what was deleted while the container ran (the
        usual question); V(image) is what a later build step removed, such as a secret a C(RUN rm) hid but kept.
    type: list
    elements: str
    choices: [container, init, image]
    default: [container]
  recover_max_bytes:
    description:
      - The most file data the recovered tar holds; files beyond it are listed as skipped in C(whiteouts.json).
        V(0) means no limit; a negative value is refused.
    type: int
    default: 1073741824
  counts_only:
    description:
      - Only count the markers of each layer (no lower layer read, nothing hashed, nothing written, no
        O(evidence_dir) needed), for a quick triage.
    type: bool
    default: false
  result_entries:
    description: How many marker records each container's result shows (C(markers)); the JSON Lines file holds all.
      A negative value is refused.
    type: int
    default: 50
  read_only_view:
    description:
      - Read the Docker root through a detached read-only, noatime clone of its mount when the kernel allows it;
        V(false) reads it with C(O_NOATIME) only.
    type: bool
    default: true
attributes:
  check_mode:
    support: full
    description: In check mode, finds the markers and what they hide without reading file data, and reports the
      artifacts it would write.
notes:
  - Run with C(become=true), before anything that might change the containers.
  - A Docker root copied without its device files (an archive unpacked by an unprivileged user, some copy tools)
    has lost its overlay whiteouts. In image layers the loss is detected against their tar-split records; in the
    writable and init layers, which have no such record, a lost deletion cannot be seen at all. Check the copy's
    C(find <layer> -type c) against the original when you can.
  - For overlayfs C(redirect_dir) (a renamed lower directory), the renamed directory's C(overlay.redirect) attribute
    is followed as the overlayfs documentation describes; Docker itself mounts without it, so it appears only in
    layers another tool made.
  - V(vfs) keeps a full copy of the filesystem per layer (image, init and writable alike), and the V(overlay)
    driver one per image layer (C(root/)); a deletion there leaves no marker on disk. The module computes it as
    Docker does for these drivers (C(docker diff)). A name that the copy below holds and the layer's copy does not
    is a deletion made in that layer, reported with C(marker=whiteout) and C(on_disk) set to
    V(absent from this full copy, present in the one below); its C(marker_stat) is the stat of the
    directory that lost the name (its mtime is when a name there was last added or removed). C(hides) names the
    oldest layer whose copy of a file is unchanged (same type, mode, owner, size and mtime), so a file is
    attributed to the build step that made it, not to every copy after it; a directory, present in every copy, is
    listed once per layer.
'''

EXAMPLES = r'''
- name: What was deleted in every container, with the originals of what the containers deleted
  dfir.docker.whiteouts:
    evidence_dir: /var/tmp/dfir/case-42
    recover: true
  become: true

- name: Deletions in the layers of one container on a dead host's disk, image layers recovered too
  dfir.docker.whiteouts:
    source: disk
    docker_root: /mnt/evidence/var/lib/docker
    containers: [web]
    recover: true
    recover_layers: [container, image]
    evidence_dir: /srv/staging/case-42
  become: true

- name: Triage, counts only
  dfir.docker.whiteouts:
    counts_only: true
    layers: [container]
  become: true
  register: deleted
'''

RETURN = r'''
artifacts:
  description:
    - Every artifact written, with path, kind, sha256, size, container_id, collected_at and source.
    - Kinds are C(container_whiteouts) (C(whiteouts.jsonl), with C(lines)), C(container_whiteouts_recovered) (the tar,
      with C(entries) and C(complete)) and C(container_whiteouts_report) (C(whiteouts.json)).
  returned: always
  type: list
  elements: dict
containers:
  description:
    - One entry per requested container with id, name, state, failed, msg, notes, artifacts, C(counts) (markers,
      whiteouts, opaque_dirs, renamed_dirs, entries_scanned, and with the analysis deleted, replaced, new_directory,
      renamed, nothing_visible, nothing_below, hidden_entries, hidden_files, hidden_bytes, markers_missing,
      markers_not_recorded, shared_inode_markers), C(per_layer) (the same counts for each layer read, and its
      tar-split file), C(markers) (the first O(result_entries) marker records, as in the JSON Lines file),
      C(recovered) (the tar, its entries, data bytes, skipped and unreadable files), C(timings) (seconds) and
      C(layers) (the stack, oldest first).
  returned: always
  type: list
  elements: dict
read_method:
  description: How the Docker root was read, and why the read-only view was not used when it was not.
  returned: when the Docker root was read
  type: dict
errors:
  description: What failed, one message per problem, naming the container and the cause.
  returned: always
  type: list
  elements: str
source:
  description: The source used for the inventory, V(api) or V(disk).
  returned: success
  type: str
started_at:
  description: UTC ISO 8601.
  returned: always
  type: str
finished_at:
  description: UTC ISO 8601.
  returned: always
  type: str
'''

import os
import time

from ansible_collections.dfir.docker.plugins.module_utils._common import (
    DfirModule,
    containers_argument_spec,
    source_argument_spec,
)
from ansible_collections.dfir.docker.plugins.module_utils._evidence import EvidenceError, planned
from ansible_collections.dfir.docker.plugins.module_utils._fs_export import ExportAborted, IdNames, Progress, Report
from ansible_collections.dfir.docker.plugins.module_utils._layer_run import LayerJob, run_jobs
from ansible_collections.dfir.docker.plugins.module_utils._safe_io import describe_os_error, display_path
from ansible_collections.dfir.docker.plugins.module_utils._whiteouts import (
    SHARED_INODE_NOTE,
    Hasher,
    MarkerAnalysis,
    RecoveryExport,
    layer_ref,
    read_recorded_markers,
    recovery_prefix,
    scan_markers,
)

ROLES = ('container', 'init', 'image')
SCAN_COUNTS = ('markers', 'whiteouts', 'opaque_dirs', 'renamed_dirs', 'entries_scanned')


def _add(total, counts):
    for key, value in counts.items():
        total[key] = total.get(key, 0) + value
    return total


class WhiteoutsJob(LayerJob):
    """The markers of one container's layers, what they hide, and the originals."""

    def execute(self):
        started = time.monotonic()
        self.timings = {}
        self.counts = dict((key, 0) for key in SCAN_COUNTS)
        self.per_layer = []
        self.recorded = {}
        self.shown = []
        self.recovered = None
        if self.open_stack() is None:
            return self.outcome('not read')
        try:
            scans = self.scan()
            if scans is not None and not self.params['counts_only']:
                self.analyse(scans)
        except ExportAborted as exc:
            self.errors.append(str(exc))
        return self.result(started)

    def result(self, started):
        self.timings['total'] = round(time.monotonic() - started, 3)
        more = {'counts': self.counts, 'per_layer': self.per_layer, 'timings': self.timings}
        if not self.params['counts_only']:
            more.update(markers=self.shown, recovered=self.recovered)
        return self.outcome('%d markers' % self.counts['markers'], **more)

    # -- 1. find the markers --------------------------------------------------------------

    def scan(self):
        started = time.monotonic()
        scans = []
        for layer in reversed(self.stack.layers):
            if layer.role not in self.params['layers']:
                continue
            if layer.error is not None:
                continue   # already an error of the stack
            try:
                scan = scan_markers(self.stack, layer, tick=self.tick)
            except OSError as exc:
                self.errors.append('%s not read: %s' % (layer.name, describe_os_error(exc)))
                continue
            scans.append(scan)
            _add(self.counts, scan.counts())
            self.per_layer.append(dict(layer_ref(layer), counts=scan.counts(), unreadable=scan.unreadable,
                                       tar_split=self.read_tar_split(layer)))
            for item in scan.unreadable:
                self.errors.append('%s: %s not listed: %s' % (layer.name, item['path'], item['error']))
        self.timings['scan'] = round(time.monotonic() - started, 3)
        return scans

    def tar_split_path(self, layer):
        """Where Docker keeps the headers of the tar an image layer was made from."""
        root = self.target.root
        if layer.role != 'image' or root is None:
            return None
        if root.layout == 'v1':
            return os.path.join(root.path, 'graph', layer.cache_id, 'tar-data.json.gz') if layer.cache_id else None
        if not layer.chain_id:
            return None
        return os.path.join(root.path, 'image', self.container.driver, 'layerdb', 'sha256',
                            layer.chain_id.split(':')[-1], 'tar-split.json.gz')

    def read_tar_split(self, layer):
        path = self.tar_split_path(layer)
        if path is None or self.params['counts_only']:
            return None
        try:
            self.recorded[layer.index] = read_recorded_markers(self.run.tree, path)
        except OSError as exc:
            self.notes.append('%s: its tar-split file cannot be read, so its markers are not checked against it: %s'
                              % (layer.name, describe_os_error(exc)))
            return {'file': path, 'error': describe_os_error(exc)}
        return {'file': path, 'recorded_markers': len(self.recorded[layer.index])}

    # -- 2. what each hides -----------------------------------------------------------------

    def analyse(self, scans):
        started = time.monotonic()
        hasher = Hasher() if self.params['hash'] and not self.dfir.check_mode else None
        analyses = [MarkerAnalysis(self.stack, scan, hasher, self.run.ids, self.tick,
                                   self.recorded.get(scan.layer.index)) for scan in scans]
        base = 'containers/%s' % self.id
        jsonl, lines = self.write_jsonl(base + '/whiteouts.jsonl', 'container_whiteouts',
                                        self.records(analyses), {'whiteout_format': self.stack.whiteout_format})
        self.timings['analysis'] = round(time.monotonic() - started, 3)
        problems = []
        for analysis, layer_counts in zip(analyses, self.per_layer):
            layer_counts['counts'].update(analysis.counts)
            _add(self.counts, analysis.counts)
            problems.extend('%s: %s' % (analysis.layer.name, problem) for problem in analysis.problems)
        if problems:
            self.notes.append('%d hidden entries could not be read completely (listed in whiteouts.json)' % len(problems))
        if self.counts.get('shared_inode_markers'):
            self.notes.append(SHARED_INODE_NOTE)
        if self.counts.get('markers_missing'):
            self.notes.append('%d deletion markers recorded in image layers\' tar-split files are missing from the layer '
                              'directories (record marker_missing in whiteouts.jsonl): what they deleted shows through'
                              % self.counts['markers_missing'])
        if self.counts.get('markers_not_recorded'):
            self.notes.append('%d deletion markers in image layers are not in those layers\' tar-split files: added '
                              'after the layers were made' % self.counts['markers_not_recorded'])
        if jsonl is None:
            return
        if self.params['recover']:
            started = time.monotonic()
            self.recovered = self.recover(analyses)
            self.timings['recovery'] = round(time.monotonic() - started, 3)
        self.write_json(base + '/whiteouts.json', {
            'whiteout_format': self.stack.whiteout_format,
            'layers': [layer.describe() for layer in self.stack.layers],
            'layers_read': self.per_layer,
            'counts': self.counts,
            'records': {'path': jsonl['path'], 'sha256': jsonl.get('sha256'), 'lines': lines},
            'problems': problems,
            'recovered': self.recovered,
            'notes': self.notes,
        }, 'container_whiteouts_report')

    def records(self, analyses):
        limit = self.params['result_entries']
        for analysis in analyses:
            for record in analysis.records():
                if record['record'] == 'marker' and len(self.shown) < limit:
                    self.shown.append(record)
                yield record

    # -- 3. the originals -------------------------------------------------------------------

    def recover(self, analyses):
        roles = self.params['recover_layers']
        chosen = [analysis for analysis in analyses if analysis.layer.role in roles and analysis.recoverable]
        if not chosen:
            self.notes.append('recover: nothing hidden to recover in the %s layers' % ', '.join(roles))
            return {'tar': None, 'roots': []}
        relpath = 'containers/%s/whiteouts-recovered.tar' % self.id
        limit = self.params['recover_max_bytes'] or None
        names = IdNames.from_stack(self.stack)
        report = Report('container_whiteouts_recovered', relpath)
        roots = []

        def fill(export):
            for analysis in chosen:
                prefix = recovery_prefix(analysis.layer)
                done = []
                for _marker, origin, path in analysis.recoverable:
                    if any(path.startswith(parent.rstrip(b'/') + b'/') for parent in done):
                        continue   # already written with a directory above it
                    done.append(path)
                    before = (report.entries, report.data_bytes)
                    export.recover(analysis.below, origin, path, prefix)
                    roots.append({'path': display_path(path), 'layer': layer_ref(analysis.layer), 'tar_prefix': prefix,
                                  'entries': report.entries - before[0], 'data_bytes': report.data_bytes - before[1]})

        if self.dfir.check_mode:
            export = RecoveryExport(self.stack, None, names, report, limit, ids=self.run.ids)
            fill(export)
            export.finish()
            record = planned(relpath, 'container_whiteouts_recovered', export.size, self.id, 'disk')
            self.dfir.planned.append(record)
            self.paths.append(relpath)
            return {'tar': relpath, 'size': export.size, 'roots': roots}
        progress = Progress(os.path.join(self.dfir.evidence.path, relpath + '.progress'))
        try:
            with self.dfir.evidence.artifact(relpath, 'container_whiteouts_recovered', self.id, 'disk') as writer:
                export = RecoveryExport(self.stack, writer.write, names, report, limit, progress, self.alive,
                                        ids=self.run.ids)
                fill(export)
                export.finish()
                self.alive()
        except (EvidenceError, ExportAborted) as exc:
            self.errors.append('%s not written: %s; the partial tar was deleted' % (relpath, exc))
            return {'tar': None, 'roots': roots, 'error': str(exc)}
        except OSError as exc:
            self.errors.append('%s not written: %s; the partial tar was deleted' % (relpath, describe_os_error(exc)))
            return {'tar': None, 'roots': roots, 'error': describe_os_error(exc)}
        finally:
            progress.remove()
        writer.record.update({'entries': report.entries, 'complete': report.complete and not report.skipped})
        self.paths.append(writer.record['path'])
        if report.unreadable or report.changed:
            self.notes.append('%s: %d entries could not be read, %d changed while read (listed in whiteouts.json)'
                              % (relpath, len(report.unreadable), len(report.changed)))
        if report.skipped:
            self.notes.append('%s: %d files over recover_max_bytes were left out (listed in whiteouts.json)'
                              % (relpath, len(report.skipped)))
        summary = {'tar': writer.record['path'], 'sha256': writer.record['sha256'], 'size': writer.record['size'],
                   'roots': roots}
        summary.update(report.to_dict())
        return summary


def main():
    spec = source_argument_spec()
    spec.update(containers_argument_spec())
    spec.update(
        evidence_dir=dict(type='path'),
        layers=dict(type='list', elements='str', choices=list(ROLES), default=list(ROLES)),
        hash=dict(type='bool', default=True),
        recover=dict(type='bool', default=False),
        recover_layers=dict(type='list', elements='str', choices=list(ROLES), default=['container']),
        recover_max_bytes=dict(type='int', default=1024 * 1024 * 1024),
        counts_only=dict(type='bool', default=False),
        result_entries=dict(type='int', default=50),
        read_only_view=dict(type='bool', default=True),
    )
    module = DfirModule(spec, required_if=[('counts_only', False, ['evidence_dir'])])
    module.run(lambda dfir: run_jobs(dfir, WhiteoutsJob, writes=not dfir.params['counts_only']))


if __name__ == '__main__':
    main()
