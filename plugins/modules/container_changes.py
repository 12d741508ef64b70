#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: dfir.docker contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: container_changes
short_description: The change set of each container's writable layer, like docker diff, and what docker diff cannot say
version_added: 0.1.0
description:
  - For each container, compares its writable layer with the layers below it (the init layer and the image layers,
    merged as overlayfs or aufs merges them) and writes every change into
    C(containers/<full id>/changes.jsonl), one JSON line each, with C(changes.json) beside it (counts, the layer
    table, problems, and the daemon's own list compared when asked).
  - C(change) is V(A) (added; nothing below holds the path), V(C) (changed; it hides an entry below) or V(D)
    (deleted; a whiteout, or an entry below an opaque directory that the writable layer does not hold again), as
    C(docker diff) says them.
  - Beyond C(docker diff), each V(C) says how (C(detail)) - V(content_changed) (the SHA-256 of the file and of the
    one below differ), V(metadata_changed) (same content; C(differs) lists mode, uid, gid, mtime, size, xattrs...),
    V(copied_up_unchanged) (overlay copied it up and nothing differs), V(type_changed), V(replaced) (an opaque
    directory over a directory below, everything in it hidden), or V(content_not_compared) (O(hash=none)) - and
    every V(C) and V(D) carries C(before), the entry it shadows, with its layer (index, diff id, the build step
    that made it), type, size, mode, owner, mtime and SHA-256. C(now) is the entry in the writable layer.
  - A directory of the writable layer that exists below is V(C), as in C(docker diff) (overlay copies a directory up
    only to change something in it); C(differs) says whether its own metadata changed. The result is a superset of
    what the daemon lists; with O(daemon_cross_check) the module compares them.
  - Read from the layers on disk, for running, stopped and dead containers alike, live or from a dead host's Docker
    root, without mounting anything (see M(dfir.docker.container_export) for how the Docker root is read).
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
      - Refused before anything is created when it is, or would be once created, inside a Docker root (the
        O(docker_root) given or read, the live daemon's C(DockerRootDir), C(/var/lib/docker), or the root that holds
        a user-namespace-remapped one; symlinks resolved, bind mounts of a root recognised). The error names both paths.
    type: path
  hash:
    description:
      - Which files to hash (SHA-256, read with C(O_NOATIME), never through a symlink).
      - V(changed) hashes each changed file and the one below it (how V(content_changed) is told from
        V(metadata_changed)), and each deleted file below a whiteout; V(all) also hashes added files; V(none) hashes
        nothing.
    type: str
    choices: [changed, all, none]
    default: changed
  counts_only:
    description:
      - Only count the changes (V(A), V(C), V(D) and the details), hashing nothing and writing nothing (no
        O(evidence_dir) needed), for a quick triage.
    type: bool
    default: false
  daemon_cross_check:
    description:
      - After reading the layers, ask the daemon for its own list (C(GET /containers/{id}/changes), what C(docker diff)
        shows) and report every change it lists that this module's records do not account for.
      - Off by default. The daemon reads the layers itself to answer, through the path lookup and without
        C(O_NOATIME); on a running container the access times of directories and symbolic links in the layers move.
        The module's own reading is done first either way.
    type: bool
    default: false
  result_entries:
    description: How many change records each container's result shows (C(changes)); the JSON Lines file holds all.
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
    description: In check mode, walks the layers without reading file data and reports the artifacts it would write.
notes:
  - Run with C(become=true), before anything that might change the containers.
  - When the Docker root cannot be read but the daemon answers, the daemon's own list is recorded instead (paths and
    V(A)/V(C)/V(D) only), and a note says so.
  - A Docker root copied without its device files has lost its overlay whiteouts, so deletions are invisible there.
  - V(vfs) keeps a full copy of the filesystem in the writable layer. The change set is then that copy against
    the init layer's, by the rule Docker uses for this driver (type, mode, owner and device; size and mtime for
    anything but a directory), so it is the list C(docker diff) gives. A deletion has C(detail=absent_from_full_copy)
    and its C(marker) times are those of the directory that lost the name. A directory is listed only when it
    changed or holds a change.
  - On the old V(overlay) driver, the writable layer (C(upper/)) also holds the copies of the init layer's files
    (C(/etc/hosts), C(/.dockerenv)...) made when the container was created; they are V(C) with
    C(detail=copied_up_unchanged) and C(before) in the init layer, unless the container changed them.
'''

EXAMPLES = r'''
- name: The change set of every container, each changed file hashed against the one below
  dfir.docker.container_changes:
    evidence_dir: /var/tmp/dfir/case-42
  become: true

- name: Counts only, for triage
  dfir.docker.container_changes:
    counts_only: true
  become: true
  register: changes

- name: One container, every added file hashed too, compared with what docker diff says
  dfir.docker.container_changes:
    containers: [web]
    hash: all
    daemon_cross_check: true
    evidence_dir: /var/tmp/dfir/case-42
  become: true
'''

RETURN = r'''
artifacts:
  description:
    - Every artifact written, with path, kind, sha256, size, container_id, collected_at and source.
    - Kinds are C(container_changes) (C(changes.jsonl), with C(lines)) and C(container_changes_report) (C(changes.json)).
  returned: always
  type: list
  elements: dict
containers:
  description:
    - One entry per requested container with id, name, state, failed, msg, notes, artifacts, C(counts) (V(A), V(C),
      V(D), entries_scanned, and one count per detail), C(changes) (the first O(result_entries) records, as in the
      JSON Lines file), C(daemon_cross_check) (when asked - how many changes the daemon listed, and those no record
      accounts for, the first 50 and their number), C(timings) and C(layers) (the stack, oldest first).
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

import time

from ansible_collections.dfir.docker.plugins.module_utils._changes import ChangeSet, missing_from
from ansible_collections.dfir.docker.plugins.module_utils._common import (
    DfirModule,
    containers_argument_spec,
    source_argument_spec,
)
from ansible_collections.dfir.docker.plugins.module_utils._engine_api import EngineAPIError
from ansible_collections.dfir.docker.plugins.module_utils._fs_export import RESULT_LIST_LIMIT, ExportAborted
from ansible_collections.dfir.docker.plugins.module_utils._layer_run import LayerJob, run_jobs
from ansible_collections.dfir.docker.plugins.module_utils._safe_io import describe_os_error
from ansible_collections.dfir.docker.plugins.module_utils._whiteouts import Hasher

LETTERS = {0: 'C', 1: 'A', 2: 'D'}


class ChangesJob(LayerJob):
    """The change set of one container's writable layer."""

    def execute(self):
        started = time.monotonic()
        self.timings = {}
        self.counts = {}
        self.shown = []
        self.cross = None
        if self.open_stack() is None:
            if self.live and not self.params['counts_only']:
                reason = '; '.join(self.errors)
                self.errors[:] = []
                self.from_daemon_only(reason)
            return self.result(started)
        hashing = self.params['hash'] != 'none' and not self.params['counts_only'] and not self.dfir.check_mode
        check = self.params['daemon_cross_check'] and self.live and not self.params['counts_only']
        try:
            changes = ChangeSet(self.stack, Hasher() if hashing else None, self.params['hash'] == 'all',
                                self.run.ids, self.tick, keep_keys=check)
        except OSError as exc:
            self.errors.append(describe_os_error(exc))
            return self.result(started)
        try:
            if self.params['counts_only']:
                for _record in changes.records():
                    pass
            else:
                self.write(changes)
        except ExportAborted as exc:
            self.errors.append(str(exc))
        except OSError as exc:
            self.errors.append('the layers could not be read: %s' % describe_os_error(exc))
        self.counts = changes.counts
        self.timings['walk'] = round(time.monotonic() - started, 3)
        if changes.problems:
            self.notes.append('%d entries could not be read completely (listed in changes.json)' % len(changes.problems))
        if check and not self.errors:
            self.cross_check(changes)
        if not self.params['counts_only']:
            self.write_json('containers/%s/changes.json' % self.id, {
                'whiteout_format': self.stack.whiteout_format,
                'layers': [layer.describe() for layer in self.stack.layers],
                'counts': self.counts,
                'problems': changes.problems,
                'daemon_cross_check': self.cross,
                'notes': self.notes,
            }, 'container_changes_report')
        return self.result(started)

    def result(self, started):
        self.timings['total'] = round(time.monotonic() - started, 3)
        more = {'counts': self.counts, 'timings': self.timings}
        if not self.params['counts_only']:
            more.update(changes=self.shown, daemon_cross_check=self.cross)
        total = sum(self.counts.get(letter, 0) for letter in 'ACD')
        return self.outcome('%d changes' % total, **more)

    def write(self, changes):
        self.write_jsonl('containers/%s/changes.jsonl' % self.id, 'container_changes', self.shown_records(changes.records()),
                         {'whiteout_format': self.stack.whiteout_format})

    def shown_records(self, records):
        limit = self.params['result_entries']
        for record in records:
            if len(self.shown) < limit:
                self.shown.append(record)
            yield record

    def daemon_changes(self):
        try:
            return self.target.client.container_changes(self.id), None
        except EngineAPIError as exc:
            return None, str(exc)

    def cross_check(self, changes):
        listed, problem = self.daemon_changes()
        if listed is None:
            self.cross = {'error': problem}
            self.notes.append('daemon_cross_check: the daemon gave no change list: %s' % problem)
            return
        missing = missing_from(changes.keys, listed)
        self.cross = {'daemon_changes': len(listed), 'ours': sum(changes.counts[letter] for letter in 'ACD'),
                      'missing': missing[:RESULT_LIST_LIMIT], 'missing_total': len(missing), 'agrees': not missing}
        if missing:
            self.notes.append('daemon_cross_check: the daemon lists %d changes no record accounts for (a running '
                              'container may have changed in between): %s'
                              % (len(missing), ', '.join('%s %s' % (item['change'], item['path'])
                                                         for item in missing[:10])))

    def from_daemon_only(self, reason):
        """No layers on disk: record the daemon's list, and say so."""
        listed, problem = self.daemon_changes()
        if listed is None:
            self.errors.append('%s, and the daemon gave no change list: %s' % (reason, problem))
            return
        self.notes.append('%s: the change list is the daemon\'s own (paths and A/C/D only)' % reason)
        records = ({'change': LETTERS.get(item.get('Kind'), str(item.get('Kind'))), 'path': item.get('Path'),
                    'source': 'api'} for item in sorted(listed, key=lambda item: item.get('Path') or ''))
        self.write_jsonl('containers/%s/changes.jsonl' % self.id, 'container_changes', self.shown_records(records),
                         source='api')
        for item in listed:
            letter = LETTERS.get(item.get('Kind'), str(item.get('Kind')))
            self.counts[letter] = self.counts.get(letter, 0) + 1


def main():
    spec = source_argument_spec()
    spec.update(containers_argument_spec())
    spec.update(
        evidence_dir=dict(type='path'),
        hash=dict(type='str', choices=['changed', 'all', 'none'], default='changed'),
        counts_only=dict(type='bool', default=False),
        daemon_cross_check=dict(type='bool', default=False),
        result_entries=dict(type='int', default=50),
        read_only_view=dict(type='bool', default=True),
    )
    module = DfirModule(spec, required_if=[('counts_only', False, ['evidence_dir'])])
    module.run(lambda dfir: run_jobs(dfir, ChangesJob, writes=not dfir.params['counts_only']))


if __name__ == '__main__':
    main()
