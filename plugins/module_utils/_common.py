# -*- coding: utf-8 -*-
# Copyright: dfir.docker contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible glue shared by the host-side modules.

Private to the collection.  The only module_utils file that imports Ansible:
argument specs, turning the pure core's errors into results, and the common
shape of every result (artifacts, per-container outcomes, errors, times).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import traceback

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.dfir.docker.plugins.module_utils._engine_api import DEFAULT_DOCKER_HOST
from ansible_collections.dfir.docker.plugins.module_utils._evidence import (
    EvidenceDir,
    EvidenceError,
    refuse_inside_docker_root,
)
from ansible_collections.dfir.docker.plugins.module_utils._safe_io import utc_now
from ansible_collections.dfir.docker.plugins.module_utils._sources import DEFAULT_DOCKER_ROOT, SOURCES, SourceError, Target


def source_argument_spec():
    return dict(
        source=dict(type='str', default='auto', choices=list(SOURCES)),
        docker_host=dict(type='str', default=DEFAULT_DOCKER_HOST),
        docker_root=dict(type='path'),
        timeout=dict(type='int', default=60),
    )


def containers_argument_spec():
    return dict(containers=dict(type='list', elements='str', default=[]))


def evidence_argument_spec():
    return dict(evidence_dir=dict(type='path', required=True))


# Size and count limits of the modules. Ansible's int type takes any sign; a negative one is refused by
# name, because taken literally it skips evidence (-1, often meant as "no limit", left every file out)
# while the run reports success.
NON_NEGATIVE_OPTIONS = ('merged_max_bytes', 'paths_max_bytes', 'recover_max_bytes', 'result_entries',
                        'max_bytes', 'max_rate')


class DfirModule:
    """An AnsibleModule with the collection's conventions for results."""

    def __init__(self, argument_spec, supports_check_mode=True, **kwargs):
        self.module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=supports_check_mode, **kwargs)
        self.params = self.module.params
        self.check_mode = self.module.check_mode
        self.started_at = utc_now()
        self.warnings = []
        self.errors = []
        self.target = None
        self.evidence = None
        for name in NON_NEGATIVE_OPTIONS:
            value = self.params.get(name) if name in argument_spec else None
            if value is not None and value < 0:
                self.fail('%s is %d: it must be 0 or more (see the option\'s documentation for what 0 means)'
                          % (name, value))

    def fail(self, msg, **result):
        """Fail the module. Every artifact already written completely and recorded is still in the
        result, so that it is fetched; an artifact being written was discarded and is not recorded."""
        result.setdefault('started_at', self.started_at)
        result.setdefault('finished_at', utc_now())
        result.setdefault('artifacts', list(self.evidence.records) if self.evidence is not None else [])
        result.setdefault('errors', self.errors + [msg])
        result.setdefault('parameters', self.params)
        self._emit_warnings()
        self.module.fail_json(msg=msg, **result)

    def open_target(self):
        try:
            self.target = Target(self.params['source'], self.params['docker_host'],
                                 self.params['docker_root'], self.params['timeout'])
        except SourceError as exc:
            self.fail(str(exc))
        self.warnings.extend(self.target.warnings)
        if self.target.root_error:
            self.warnings.append('the Docker root cannot be read, so raw files are not collected: %s' % self.target.root_error)
        return self.target

    def docker_roots(self):
        """The Docker roots a staging dir must stay out of (see Target.docker_roots)."""
        if self.target is not None:
            return self.target.docker_roots()
        return [self.params.get('docker_root'), DEFAULT_DOCKER_ROOT]

    def open_evidence(self, path=None):
        path = path or self.params['evidence_dir']
        try:
            # refused before anything is created, in check mode too; then created along the path checked
            checked = None
            if path and os.path.isabs(path):
                checked = refuse_inside_docker_root(path, self.docker_roots())
            # check mode checks the name only: it creates nothing
            self.evidence = EvidenceDir(path, create=not self.check_mode, checked=checked)
        except EvidenceError as exc:
            self.fail(str(exc))
        if self.check_mode:
            return self.evidence
        self._warn_same_filesystem()
        return self.evidence

    def _warn_same_filesystem(self):
        if self.target is None or self.target.root is None:
            return
        try:
            same = os.stat(self.evidence.path).st_dev == os.stat(self.target.root.path).st_dev
        except OSError:
            return
        if same:
            self.warnings.append(
                'evidence_dir %s is on the same filesystem as the Docker root %s: writing there can overwrite '
                'deleted data that could still be recovered; prefer a staging dir on another disk'
                % (self.evidence.path, self.target.root.path))

    def finish(self, result, changed=None):
        """Exit; failed when anything was recorded in self.errors."""
        result.setdefault('artifacts', self.evidence.records if self.evidence else [])
        result['errors'] = self.errors
        result['parameters'] = self.params
        result['started_at'] = self.started_at
        result['finished_at'] = utc_now()
        if self.target is not None:
            result.setdefault('source', self.target.source)
        if changed is None:
            changed = bool(result['artifacts']) and not self.check_mode
        self._emit_warnings()
        if self.errors:
            msg = '; '.join(self.errors)
            if len(self.errors) > 1:
                msg = '%d errors: %s' % (len(self.errors), msg)
            self.module.fail_json(msg=msg, changed=changed, **result)
        self.module.exit_json(changed=changed, **result)

    def _emit_warnings(self):
        for warning in self.warnings:
            self.module.warn(warning)
        self.warnings = []

    def run(self, body):
        """Run the module body; any unexpected error becomes a clear failure, not a traceback."""
        try:
            body(self)
        except Exception as exc:  # noqa: B902 - the last line of defence for a responder's run
            self.fail('unexpected error: %s: %s' % (type(exc).__name__, exc), exception=traceback.format_exc())
