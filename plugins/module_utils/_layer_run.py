# -*- coding: utf-8 -*-
# Copyright: dfir.docker contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The steps `whiteouts` and `container_changes` share: one Docker root, many containers, JSON Lines out.

Private to the collection.  Standard library only; the module object
(`_common.DfirModule`) is handed in, never imported.

`LayerRun` opens the Docker root once (a `ReadOnlyTree`) for a module run;
`LayerJob` is one container of it: its layer stack, its artifacts, notes and
errors (one container's problems never stop the others), and `write_jsonl`,
which streams records into an artifact through `EvidenceDir`: hashed while
written, never held in memory as a whole, removed on any failure.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import time

from ansible_collections.dfir.docker.plugins.module_utils._docker_root import DockerRootError
from ansible_collections.dfir.docker.plugins.module_utils._engine_api import EngineAPIError, EngineNotFound
from ansible_collections.dfir.docker.plugins.module_utils._evidence import EvidenceError, planned
from ansible_collections.dfir.docker.plugins.module_utils._fs_export import ExportAborted, Progress, RemappedIds
from ansible_collections.dfir.docker.plugins.module_utils._layers import LayerError, stack_for_container
from ansible_collections.dfir.docker.plugins.module_utils._safe_io import describe_os_error
from ansible_collections.dfir.docker.plugins.module_utils._tree import ReadOnlyTree

FLUSH_BYTES = 1024 * 1024


def json_line(record):
    return json.dumps(record, sort_keys=True, ensure_ascii=False, separators=(',', ':')).encode('utf-8') + b'\n'


class LayerRun:
    """One module run: the Docker root opened once for every container."""

    def __init__(self, dfir, writes=True):
        self.dfir = dfir
        self.writes = writes            # False: counts only, nothing written (no evidence_dir needed)
        self.tree = None
        self.method = None
        root = dfir.target.root
        remapped = root.remapped_ids() if root is not None else None
        self.ids = RemappedIds(*remapped) if remapped else None

    def open_tree(self):
        root = self.dfir.target.root
        if root is None:
            return
        try:
            self.tree = ReadOnlyTree(root.path, self.dfir.params['read_only_view'])
            self.method = self.tree.describe()
        except OSError as exc:
            self.dfir.warnings.append('the Docker root %s cannot be opened: %s' % (root.path, describe_os_error(exc)))

    def close(self):
        if self.tree is not None:
            self.tree.close()
            self.tree = None

    def read_method(self):
        return self.method


class LayerJob:
    """One container of a run."""

    def __init__(self, run, container_id, facts):
        self.run = run
        self.dfir = run.dfir
        self.target = run.dfir.target
        self.params = run.dfir.params
        self.id = container_id
        self.facts = facts or {}
        self.errors = []
        self.notes = []
        self.paths = []
        self.stack = None
        self.container = None
        self.live = self.target.client is not None and self.facts.get('source') == 'api'
        self._last_check = time.monotonic()
        self._progress = None
        self._lines = 0
        self._written = 0

    def outcome(self, message, **more):
        result = {
            'id': self.id,
            'name': self.facts.get('name'),
            'state': self.facts.get('state'),
            'failed': bool(self.errors),
            'msg': '; '.join(self.errors) if self.errors else message,
            'notes': self.notes,
            'artifacts': self.paths,
        }
        if self.stack is not None:
            result['layers'] = [layer.describe() for layer in self.stack.layers]
            result['whiteout_format'] = self.stack.whiteout_format
        result.update(more)
        return result

    def open_stack(self):
        """The container's LayerStack from disk, or None with the reason in errors."""
        if self.run.tree is None:
            self.errors.append('its layers cannot be read: the Docker root cannot be read (%s)'
                               % (self.target.root_error or 'see the warnings'))
            return None
        try:
            self.container = self.target.disk_container(self.id)
            self.stack, notes = stack_for_container(self.container, self.run.tree)
        except (DockerRootError, LayerError) as exc:
            self.errors.append('its layers cannot be read from disk: %s' % exc)
            return None
        except OSError as exc:
            self.errors.append('its layers cannot be read from disk: %s' % describe_os_error(exc))
            return None
        self.notes.extend(notes)
        self.errors.extend(self.stack.problems)
        return self.stack

    # -- the container going away ------------------------------------------------------------

    def alive(self):
        """Raise ExportAborted when the container is being removed or is gone (what it held is then partial)."""
        if self.live:
            try:
                state = self.target.client.inspect_container(self.id).get('State') or {}
            except EngineNotFound:
                state = {'Status': 'removed'}
            except EngineAPIError:
                state = {}
            if state.get('Status') in ('removing', 'removed'):
                raise ExportAborted('container %s was removed while it was read' % self.id)
        root = self.target.root
        upper = self.stack.layer('container') if self.stack is not None else None
        if root is not None and (not os.path.lexists(root.container_dir(self.id))
                                 or (upper is not None and upper.error is None and not os.path.lexists(upper.host_dir))):
            raise ExportAborted('container %s was removed while it was read' % self.id)

    def tick(self):
        """Called often during a walk: once a second, check the container and show progress."""
        now = time.monotonic()
        if now - self._last_check < 1.0:
            return
        self._last_check = now
        self.alive()
        if self._progress is not None:
            self._progress.update(self._written, self._lines)

    # -- artifacts ---------------------------------------------------------------------------

    def write_jsonl(self, relpath, kind, records, extra=None, source='disk'):
        """Stream records into one JSON Lines artifact; return (record, lines) or (None, lines).

        In check mode the records are still produced (and counted), nothing
        is written, and a planned record is returned.
        """
        self._lines = 0
        self._written = 0
        try:
            if self.dfir.check_mode:
                for _record in records:
                    self._lines += 1
                record = planned(relpath, kind, None, self.id, source)
                self.dfir.planned.append(record)
                self.paths.append(relpath)
                return record, self._lines
            record = self._stream(relpath, kind, records, extra, source)
        except (EvidenceError, ExportAborted) as exc:
            self.errors.append('%s not written: %s; the partial file was deleted' % (relpath, exc))
            return None, self._lines
        except OSError as exc:
            self.errors.append('%s not written: %s; the partial file was deleted' % (relpath, describe_os_error(exc)))
            return None, self._lines
        record['lines'] = self._lines
        self.paths.append(record['path'])
        return record, self._lines

    def _stream(self, relpath, kind, records, extra, source):
        evidence = self.dfir.evidence
        self._progress = Progress(os.path.join(evidence.path, relpath + '.progress'))
        try:
            with evidence.artifact(relpath, kind, self.id, source, extra) as writer:
                pending = bytearray()
                for record in records:
                    pending += json_line(record)
                    self._lines += 1
                    if len(pending) >= FLUSH_BYTES:
                        writer.write(bytes(pending))
                        del pending[:]
                        self._written = writer.size
                        self._progress.update(self._written, self._lines)
                if pending:
                    writer.write(bytes(pending))
                self.alive()
        finally:
            self._progress.remove()
            self._progress = None
        return writer.record

    def write_json(self, relpath, document, kind):
        if self.dfir.check_mode:
            return None
        document = dict(document, container_id=self.id, container_name=self.facts.get('name'),
                        container_state=self.facts.get('state'), read_method=self.run.read_method(),
                        remapped_ids=self.run.ids.describe() if self.run.ids else None)
        try:
            record = self.dfir.evidence.write_json(relpath, document, kind, self.id, 'disk')
        except EvidenceError as exc:
            self.errors.append(str(exc))
            return None
        self.paths.append(record['path'])
        return record


def run_jobs(dfir, job_class, writes, finish_result=None):
    """Select the containers, run `job_class(run, id, facts).execute()` for each, and finish the module."""
    target = dfir.open_target()
    run = LayerRun(dfir, writes)
    if writes:
        # refuses a staging dir inside the Docker root before creating it
        dfir.open_evidence()
    dfir.planned = []
    run.open_tree()
    outcomes = []
    try:
        ids, facts_by_id, selection_errors, _listing_errors = target.select(dfir.params['containers'])
        for requested, message in selection_errors:
            dfir.errors.append(message)
            outcomes.append({'requested': requested, 'failed': True, 'msg': message, 'artifacts': []})
        for container_id in ids:
            outcome = job_class(run, container_id, facts_by_id.get(container_id)).execute()
            if outcome['failed']:
                dfir.errors.append('container %s: %s' % (container_id, outcome['msg']))
            outcomes.append(outcome)
    finally:
        run.close()
    result = {'containers': outcomes}
    if run.method is not None:
        result['read_method'] = run.method
    if finish_result is not None:
        finish_result(result, outcomes)
    if not writes:
        result['artifacts'] = []
        dfir.finish(result, changed=False)
    if dfir.check_mode:
        result['artifacts'] = dfir.planned
        dfir.finish(result, changed=bool(dfir.planned))
    dfir.finish(result)
