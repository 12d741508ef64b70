#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: dfir.docker contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: container_export
short_description: Preserve container filesystems as tar archives, from the layers on disk or the Engine API
version_added: 0.1.0
description:
  - For each container, writes PAX tar archives into O(evidence_dir) under C(containers/<full id>/fs/), each with a
    JSON report beside it (C(<name>.json)) that lists the layer stack, what each tar holds, and what could not be
    read.
  - V(merged) (C(fs/merged.tar)) is the filesystem as the container saw it. It is built from the layers on disk by a
    userspace resolver, without mounting anything, for running, stopped, dead and offline containers alike; with
    O(merged_via=api) the daemon's own export (C(docker export)) is streamed instead.
  - V(upper) (C(fs/upper.tar)) is the writable layer alone. Deleted files and replaced directories stay in it as OCI
    whiteout entries (C(.wh.<name>), C(.wh..wh..opq)) carrying the on-disk marker's owner and times, and are listed
    in C(fs/upper.json).
  - V(vfs) stores a full copy of the filesystem per layer, so it has no writable layer as a diff. For it,
    V(upper) is what the container's copy changed against the init layer's copy (Docker's own rule for this
    driver compares type, mode, owner, device, and size and mtime for anything but a directory), the entries C(docker diff)
    lists. A deletion is an OCI whiteout entry carrying the times and owner of the directory that lost the name,
    with C(on_disk) set to V(absent from this full copy, present in the one below) in C(fs/upper.json). V(layers) writes
    each image layer of V(vfs) and of the old V(overlay) driver (whose image layers are full copies in C(root/))
    the same way, as what it changed against the layer below. The old V(overlay) driver's C(upper/) is a diff and
    is exported as stored; it holds copies of the init layer's files too (C(/etc/hosts), C(/.dockerenv)...).
  - V(layers) writes each image layer as its own tar, C(fs/layers/sha256-<diff id>.tar), and the init layer as
    C(fs/layers/init.tar), whiteouts kept as for V(upper); C(fs/layers.json) ties each tar to its diff id, chain id,
    cache id and the build step that made it. A layer shared by several containers of one call is written once and
    referenced. The tar of a layer is rebuilt from its directory, so its SHA-256 is not the diff id.
  - V(paths) (C(fs/paths.tar)) holds chosen paths or shell patterns of the merged view (C(/etc), C(/root/.ssh),
    C(/home/*/.bash_history)), resolved inside the container root, up to O(paths_max_bytes) of file data.
  - The container's mounts are always listed in C(fs/mounts.json). Named volumes of the C(local) driver are collected
    with O(volumes) (C(fs/volumes/<name>.tar)), bind-mount sources only with O(bind_mounts) since they are host data
    (C(fs/binds/<n>.tar)), and tmpfs contents, which exist only in memory, with O(tmpfs) from a running container
    through C(/proc/<pid>/root) (C(fs/tmpfs/<n>.tar), marked volatile).
  - Tars are PAX with raw byte names (a name with a newline or a byte that is not UTF-8 survives byte for byte; the
    results show it escaped), nanosecond times (mtime, atime, ctime), owners with the names the container's own
    C(/etc/passwd) and C(/etc/group) give, modes, extended attributes (C(security.capability)), hard links as links,
    fifos, sockets and devices as entries that are never opened, and sparse files in the PAX sparse format, so a
    1 GiB file of holes takes kilobytes.
  - For a user-namespace-remapped Docker root (C(<root>/<uid>.<gid>)), owners are written as the container saw them
    (host uid 100000 is the container's root), as C(docker export) does.
  - Nothing is written under the Docker root, no symlink is followed out of a container root, no file is opened
    through a symlink, and nothing runs inside the container. Where the kernel allows it (Linux 5.12+), the Docker
    root is read through a detached read-only, noatime clone of its mount (open_tree, mount_setattr) that is attached
    nowhere; through it even listing a directory or reading a symlink leaves every access time as it was. Otherwise
    files and directories are opened with C(O_NOATIME); the report says which (C(read_method)).
  - A file that cannot be read is listed in the report and the export goes on; a missing layer directory is named,
    and the rest is exported with the tar marked incomplete. A container removed during the export, or a staging disk
    that fills up, fails that container; its partial tar is deleted and never recorded. A writable layer (mount id)
    that the layer database also gives to another container is read for neither; both fail, naming it.
author:
  - dfir.docker contributors (@dfir-docker)
extends_documentation_fragment:
  - dfir.docker.common
  - dfir.docker.common.containers
  - dfir.docker.common.evidence
options:
  mode:
    description:
      - What to export, one or more of V(merged), V(upper), V(layers), V(paths).
    type: list
    elements: str
    choices: [merged, upper, layers, paths]
    default: [merged]
  merged_via:
    description:
      - Where V(merged) comes from.
      - V(disk) builds it from the layers (any container state, the daemon not needed, no access time changed).
      - V(api) streams the daemon's C(docker export); the daemon mounts a stopped container's layers to do so, and
        reads through overlayfs, which may update access times in the writable layer.
      - V(auto) uses the disk when the Docker root can be read, else the API.
    type: str
    choices: [auto, disk, api]
    default: auto
  merged_max_bytes:
    description:
      - Skip V(merged) for a container whose merged tar would be larger than this many bytes (measured exactly
        before writing, from the layers, or from the daemon's C(SizeRootFs) when only the API can be read).
        V(upper) and the other modes are still exported. The skip is a note, not an error.
      - V(0) means no limit; a negative value is refused.
    type: int
    default: 0
  paths:
    description:
      - Container paths or shell patterns for V(paths), resolved inside the container root. A directory is exported
        with everything below it; a symlink is exported as a symlink, and what it points to (inside the container)
        as well.
    type: list
    elements: str
    default: []
  paths_max_bytes:
    description: The most file data V(paths) writes per container; files that would exceed it are listed as skipped.
      V(0) exports no file data; a negative value is refused.
    type: int
    default: 268435456
  volumes:
    description: Collect the content of named volumes of the C(local) driver (C(<docker_root>/volumes/<name>/_data)).
    type: bool
    default: false
  bind_mounts:
    description:
      - Collect the content of bind-mount sources. They are host directories, possibly large and shared with other
        containers or the host itself, so this is never the default.
      - A source is a path of the Docker host. For a Docker root read at C(<image>/var/lib/docker) of a mounted disk
        image (its daemon recorded C(/var/lib/docker)), it is read below C(<image>), without following any symlink,
        and C(mounts.json) gives it as C(source_here). For a root whose host files are not reachable (a copy of the
        root alone) it is not collected and the reason is given; this machine's own directory of that name is never
        taken for the suspect's.
    type: bool
    default: false
  tmpfs:
    description:
      - Collect the content of tmpfs mounts of running containers through C(/proc/<pid>/root/<mount point>). Their
        content exists only in memory and is gone once the container stops; the tars are marked volatile.
    type: bool
    default: false
  read_only_view:
    description:
      - Read the Docker root through a detached read-only, noatime clone of its mount when the kernel allows it.
        V(false) reads it directly with C(O_NOATIME), which cannot keep the access time of directories listed
        through a clone-less path or of symlinks read.
    type: bool
    default: true
attributes:
  check_mode:
    support: full
    description: In check mode, walks the layers without reading file data and reports each tar it would write with
      its exact size.
notes:
  - Run with C(become=true); run it before anything that might change the containers.
  - The staging directory is refused when it is inside the Docker root, and a warning is given when it shares its
    filesystem (writing there can overwrite deleted data that could still be recovered).
  - Progress of a long export is written to C(<artifact>.progress) in the staging directory (bytes written, entries),
    so a run with C(async) can be watched; the file is removed when the tar is complete.
'''

EXAMPLES = r'''
- name: The writable layer of every container, and the merged view of those under 2 GiB
  dfir.docker.container_export:
    mode: [upper, merged]
    merged_max_bytes: 2147483648
    evidence_dir: /var/tmp/dfir/case-42
  become: true

- name: SSH keys, crontabs and shell histories of one container, with its named volumes
  dfir.docker.container_export:
    containers: [web]
    mode: paths
    paths: [/root/.ssh, /etc/cron*, /home/*/.ssh, /home/*/.*_history]
    volumes: true
    evidence_dir: /var/tmp/dfir/case-42
  become: true

- name: Every image layer of a container from a dead host's disk, in the background
  dfir.docker.container_export:
    source: disk
    docker_root: /mnt/evidence/var/lib/docker
    containers: [8e8b7f23eb7c]
    mode: [layers, merged]
    evidence_dir: /srv/staging/case-42
  become: true
  async: 7200
  poll: 30
'''

RETURN = r'''
artifacts:
  description:
    - Every artifact written, with path, kind, sha256, size, container_id, collected_at and source.
    - Kinds are C(container_fs_merged), C(container_fs_upper), C(container_fs_layer), C(container_fs_paths),
      C(container_fs_volume), C(container_fs_bind), C(container_fs_tmpfs) (tars; with entries, complete and,
      for tmpfs, volatile) and C(container_fs_report), C(container_mounts) (JSON).
    - In check mode, the planned tars with their exact sizes and C(planned=true).
  returned: always
  type: list
  elements: dict
containers:
  description:
    - One entry per requested container with id, name, failed, msg, notes, artifacts, and C(exports), a summary
      per mode (tar path, size, sha256, entries, complete, source or why it was skipped, how many files could not
      be read or changed while read, and the first 50 of each in C(unreadable_files) and C(changed_files); the
      report beside the tar lists them all), C(mounts) and C(layers) (the stack, oldest first, with diff id,
      cache id or mount id and whether it could be read).
  returned: always
  type: list
  elements: dict
read_method:
  description: How the Docker root was read, V(detached read-only noatime view) or V(O_NOATIME reads), and why the
    view was not used when it was not.
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
import re
from urllib.parse import quote

from ansible_collections.dfir.docker.plugins.module_utils._common import (
    DfirModule,
    containers_argument_spec,
    evidence_argument_spec,
    source_argument_spec,
)
from ansible_collections.dfir.docker.plugins.module_utils._docker_root import DockerRootError
from ansible_collections.dfir.docker.plugins.module_utils._engine_api import EngineAPIError, EngineNotFound
from ansible_collections.dfir.docker.plugins.module_utils._evidence import EvidenceError, planned
from ansible_collections.dfir.docker.plugins.module_utils._fs_export import (
    ExportAborted,
    IdNames,
    Progress,
    RemappedIds,
    Report,
    SizeLimitExceeded,
    TarExport,
)
from ansible_collections.dfir.docker.plugins.module_utils._layers import (
    Layer,
    LayerError,
    LayerStack,
    stack_for_container,
)
from ansible_collections.dfir.docker.plugins.module_utils._safe_io import describe_os_error, display_path, is_real_dir
from ansible_collections.dfir.docker.plugins.module_utils._tree import ReadOnlyTree

MODES = ('merged', 'upper', 'layers', 'paths')
ORDER = ('upper', 'paths', 'merged', 'layers')
VOLUME_NAME = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_.-]*$')


class ContainerExport:
    """Exports one container; problems go to `errors`, never stop the others."""

    def __init__(self, run, container_id, facts):
        self.run = run
        self.dfir = run.dfir
        self.target = run.dfir.target
        self.evidence = run.dfir.evidence
        self.params = run.dfir.params
        self.id = container_id
        self.facts = facts or {}
        self.base = 'containers/%s/fs' % container_id
        self.errors = []
        self.notes = []
        self.paths = []
        self.exports = {}
        self.live = self.target.client is not None and self.facts.get('source') == 'api'
        self.stack = None
        self.names = IdNames()

    # -- the outcome -------------------------------------------------------------

    def outcome(self):
        result = {
            'id': self.id,
            'name': self.facts.get('name'),
            'failed': bool(self.errors),
            'msg': '; '.join(self.errors) if self.errors else 'exported',
            'notes': self.notes,
            'artifacts': self.paths,
            'exports': self.exports,
        }
        if self.stack is not None:
            result['layers'] = [layer.describe() for layer in self.stack.layers]
        return result

    def execute(self):
        self.open_stack()
        # Most volatile and most telling first: tmpfs contents (with the mounts), the
        # writable layer, chosen paths, then the bulk.
        self.mounts()
        modes = self.params['mode']
        for mode in ORDER:
            if mode in modes:
                getattr(self, 'export_' + mode)()
        return self.outcome()

    def open_stack(self):
        tree = self.run.tree
        if tree is None:
            return
        try:
            container = self.target.disk_container(self.id)
            self.stack, notes = stack_for_container(container, tree)
        except (DockerRootError, LayerError) as exc:
            message = 'its layers cannot be read from disk: %s' % exc
            (self.notes if self.live else self.errors).append(message)
            return
        except OSError as exc:
            self.errors.append('its layers cannot be read from disk: %s' % describe_os_error(exc))
            return
        self.notes.extend(notes)
        self.errors.extend(self.stack.problems)
        self.names = IdNames.from_stack(self.stack)

    # -- writing ---------------------------------------------------------------------

    def alive(self):
        """Raise ExportAborted when the container is being removed or is gone.

        Live, the daemon says so first (404, or state "removing" while it deletes
        the layers); on disk, the container's directory or its writable layer
        disappear.
        """
        if self.live:
            try:
                state = self.target.client.inspect_container(self.id).get('State') or {}
            except EngineNotFound:
                state = {'Status': 'removed'}
            except EngineAPIError:
                state = {}
            if state.get('Status') in ('removing', 'removed'):
                raise ExportAborted('container %s was removed during the export' % self.id)
        root = self.target.root
        if root is None:
            return
        container_dir = root.container_dir(self.id)
        upper = self.stack.layer('container') if self.stack else None
        gone = not os.path.lexists(container_dir) or (upper is not None and upper.error is None
                                                      and not os.path.lexists(upper.host_dir))
        if gone:
            raise ExportAborted('container %s was removed during the export' % self.id)

    def write_tar(self, relpath, kind, fill, extra=None, max_data_bytes=None, stack=None, source='disk'):
        """Write one tar with `fill(export)`; return (record or planned record, report) or (None, report)."""
        stack = stack or self.stack
        report = Report(kind, relpath)
        if self.dfir.check_mode:
            export = TarExport(stack, None, self.names, report, max_data_bytes, ids=self.run.ids)
            try:
                fill(export)
                export.finish()
            except OSError as exc:
                self.errors.append('%s cannot be measured: %s' % (relpath, describe_os_error(exc)))
                return None, report
            report.unreadable_layers = self.unreadable_layers(stack)
            record = planned(relpath, kind, export.size, self.id, source)
            self.dfir.planned.append(record)
            self.paths.append(relpath)
            return record, report
        progress = Progress(os.path.join(self.evidence.path, relpath + '.progress'))
        details = dict(extra or {})
        try:
            with self.evidence.artifact(relpath, kind, self.id, source, details) as writer:
                export = TarExport(stack, writer.write, self.names, report, max_data_bytes, progress, self.alive,
                                   ids=self.run.ids)
                fill(export)
                export.finish()
                self.alive()
            # After the fill: a layer root that fails to open is found while filling. The report then
            # says incomplete everywhere it is shown (summary, sidecar, mounts.json), as the record does.
            report.unreadable_layers = self.unreadable_layers(stack)
        except (EvidenceError, ExportAborted) as exc:
            self.errors.append('%s not written: %s; the partial tar was deleted' % (relpath, exc))
            return None, report
        except OSError as exc:
            self.errors.append('%s not written: %s; the partial tar was deleted' % (relpath, describe_os_error(exc)))
            return None, report
        finally:
            progress.remove()
        record = writer.record
        record.update({'entries': report.entries, 'complete': report.complete})
        self.paths.append(record['path'])
        self.note_report(relpath, report)
        return record, report

    def unreadable_layers(self, stack):
        return ['%s: %s' % (layer.name, layer.error) for layer in stack.layers if layer.error]

    def note_report(self, relpath, report):
        if report.unreadable:
            self.notes.append('%s: %d entries could not be read (listed in its report)' % (relpath, len(report.unreadable)))
        if report.changed:
            self.notes.append('%s: %d files changed while read (listed in its report)' % (relpath, len(report.changed)))

    def write_report(self, relpath, document):
        if self.dfir.check_mode:
            return None
        document = dict(document, container_id=self.id, read_method=self.run.tree.describe() if self.run.tree else None,
                        remapped_ids=self.run.ids.describe() if self.run.ids else None)
        try:
            record = self.evidence.write_json(relpath, document, 'container_fs_report', self.id, 'disk')
        except EvidenceError as exc:
            self.errors.append(str(exc))
            return None
        self.paths.append(record['path'])
        return record

    def summary(self, record, report, **more):
        summary = {'tar': record['path'] if record else None, 'size': record['size'] if record else None}
        if record and not record.get('planned'):
            summary['sha256'] = record['sha256']
        summary.update({'entries': report.entries, 'data_bytes': report.data_bytes, 'complete': report.complete,
                        'unreadable': len(report.unreadable), 'changed': len(report.changed)})
        shown = report.to_dict(full=False)
        for key in ('unreadable', 'changed'):
            if shown.get(key):
                summary[key + '_files'] = shown[key]
        summary.update(more)
        return summary

    def stack_document(self, stack=None):
        stack = stack or self.stack
        return {'whiteout_format': stack.whiteout_format,
                'layers': [layer.describe() for layer in stack.layers],
                'problems': stack.problems}

    # -- merged -----------------------------------------------------------------------

    def export_merged(self):
        via = self.params['merged_via']
        if via == 'auto':
            via = 'disk' if self.stack is not None else 'api'
        if via == 'disk':
            if self.stack is None:
                self.errors.append('merged: the layers cannot be read from disk (see above)')
                return
            self.merged_from_disk()
        elif not self.live:
            self.errors.append('merged: merged_via=api needs a daemon that knows this container')
        else:
            self.merged_from_api()

    def merged_from_disk(self):
        limit = self.params['merged_max_bytes']
        relpath = self.base + '/merged.tar'
        if limit:
            size = self.measure(lambda export: export.merged(), limit)
            if size is None:
                self.exports['merged'] = {'skipped': 'larger than merged_max_bytes (%d bytes)' % limit}
                self.notes.append('merged not exported: the tar would be larger than merged_max_bytes (%d bytes); '
                                  'the upper layer and the image layers hold the same content' % limit)
                return
        record, report = self.write_tar(relpath, 'container_fs_merged', lambda export: export.merged())
        self.exports['merged'] = self.summary(record, report, source='disk')
        if record is not None:
            self.write_report(self.base + '/merged.json', dict(self.stack_document(), mode='merged', tar=record,
                                                               report=report.to_dict()))

    def measure(self, fill, limit):
        """The exact size of a tar, or None as soon as it exceeds `limit` (no file data read)."""
        export = TarExport(self.stack, None, self.names, Report('measure', None), size_limit=limit, ids=self.run.ids)
        try:
            fill(export)
            export.finish()
        except SizeLimitExceeded:
            return None
        except OSError:
            return 0  # not measurable: the export itself will say why
        return export.size if export.size <= limit else None

    def merged_from_api(self):
        relpath = self.base + '/merged.tar'
        client = self.target.client
        limit = self.params['merged_max_bytes']
        size_root = None
        if limit or self.dfir.check_mode:
            try:
                size_root = client.get_json('/containers/%s/json' % quote(self.id, safe=''), {'size': '1'}).get('SizeRootFs')
            except EngineAPIError as exc:
                self.notes.append('merged: the daemon gave no size: %s' % exc)
        if limit and (size_root is None or size_root > limit):
            reason = 'its size is unknown' if size_root is None else 'SizeRootFs is %d bytes' % size_root
            self.exports['merged'] = {'skipped': '%s and merged_max_bytes is %d' % (reason, limit)}
            self.notes.append('merged not exported through the API: %s and merged_max_bytes is %d bytes' % (reason, limit))
            return
        if self.dfir.check_mode:
            record = planned(relpath, 'container_fs_merged', None, self.id, 'api')
            self.dfir.planned.append(record)
            self.paths.append(relpath)
            self.exports['merged'] = {'tar': relpath, 'size': None, 'source': 'api', 'size_root_fs': size_root}
            return
        if not self.facts.get('running'):
            self.notes.append('merged through the API: the daemon mounted the layers of this stopped container to '
                              'export them')
        try:
            response = client.container_export(self.id)
        except EngineNotFound:
            self.errors.append('container %s no longer exists (removed during collection)' % self.id)
            return
        except EngineAPIError as exc:
            self.errors.append('merged: the daemon refused the export: %s' % exc)
            return
        try:
            with response:
                record = self.evidence.write_stream(relpath, response.chunks(), 'container_fs_merged', self.id, 'api',
                                                    {'built_by': 'docker export (Engine API)'})
        except (EvidenceError, EngineAPIError) as exc:
            self.errors.append('%s not written: %s; the partial tar was deleted' % (relpath, exc))
            return
        self.paths.append(record['path'])
        self.exports['merged'] = {'tar': record['path'], 'size': record['size'], 'sha256': record['sha256'],
                                  'source': 'api'}

    # -- upper, layers --------------------------------------------------------------

    def export_upper(self):
        if self.stack is None:
            self.errors.append('upper: the writable layer cannot be read from disk')
            return
        upper = self.stack.layer('container')
        if upper is None or upper.error:
            self.errors.append('upper: %s' % (upper.error if upper else 'no writable layer'))
            return
        relpath = self.base + '/upper.tar'
        record, report = self.write_tar(relpath, 'container_fs_upper', lambda export: export.layer(upper),
                                        {'mount_id': upper.mount_id})
        self.exports['upper'] = self.summary(record, report, whiteouts=len(report.whiteouts),
                                             opaque_dirs=len(report.opaque_dirs))
        if record is not None:
            self.write_report(self.base + '/upper.json', dict(self.stack_document(), mode='upper', tar=record,
                                                              layer=upper.describe(), report=report.to_dict()))

    def export_layers(self):
        if self.stack is None:
            self.errors.append('layers: the image layers cannot be read from disk')
            return
        written = []
        for layer in self.stack.layers:
            if layer.role not in ('image', 'init'):
                continue
            item = {'layer': layer.describe()}
            written.append(item)
            if layer.error:
                item['error'] = layer.error
                continue
            key = layer.cache_id or layer.mount_id or layer.host_dir
            if key in self.run.layer_tars:
                item['tar'] = self.run.layer_tars[key]
                item['shared_with_earlier_container'] = True
                continue
            relpath = '%s/layers/%s.tar' % (self.base, self.layer_name(layer))
            record, report = self.write_tar(relpath, 'container_fs_layer',
                                            lambda export, layer=layer: export.layer(layer),
                                            {'diff_id': layer.diff_id, 'chain_id': layer.chain_id,
                                             'cache_id': layer.cache_id, 'layer_index': layer.index,
                                             'role': layer.role})
            item.update({'tar': record, 'report': report.to_dict()})
            if record is not None:
                self.run.layer_tars[key] = record['path']
        self.exports['layers'] = [{'index': item['layer']['index'], 'diff_id': item['layer'].get('diff_id'),
                                   'tar': (item['tar'] or {}).get('path') if isinstance(item.get('tar'), dict)
                                   else item.get('tar'), 'error': item.get('error')} for item in written]
        self.write_report(self.base + '/layers.json', dict(self.stack_document(), mode='layers', layers_exported=written))

    @staticmethod
    def layer_name(layer):
        if layer.role == 'init':
            return 'init'
        if layer.diff_id:
            return layer.diff_id.replace(':', '-')
        return 'cache-%s' % layer.cache_id

    # -- paths ------------------------------------------------------------------------

    def export_paths(self):
        if self.stack is None:
            self.errors.append('paths: the layers cannot be read from disk')
            return
        patterns = self.params['paths']
        if not patterns:
            self.errors.append('paths: mode paths needs at least one entry in the paths option')
            return
        matched, requested = self.expand(patterns)
        if not matched:
            self.notes.append('paths: nothing matched %s' % ', '.join(patterns))

        def fill(export):
            for path in matched:
                export.merged(path)
        relpath = self.base + '/paths.tar'
        record, report = self.write_tar(relpath, 'container_fs_paths', fill, max_data_bytes=self.params['paths_max_bytes'])
        self.exports['paths'] = self.summary(record, report, skipped=len(report.skipped),
                                             matched=[display_path(path) for path in matched])
        if record is not None:
            self.write_report(self.base + '/paths.json', dict(self.stack_document(), mode='paths', tar=record,
                                                              requested=requested, report=report.to_dict()))

    def expand(self, patterns):
        """Paths to export (no one below another), and what each pattern matched."""
        found = set()
        requested = []
        for pattern in patterns:
            item = {'pattern': pattern, 'matched': []}
            requested.append(item)
            try:
                hits = self.stack.glob(os.fsencode(pattern))
            except (LayerError, OSError) as exc:
                item['error'] = str(exc)
                continue
            for hit in hits:
                found.add(hit)
                item['matched'].append(display_path(hit))
                entry = self.stack.lookup(hit)
                if entry is not None and entry.kind == 'symlink':
                    try:
                        target, resolved, _links = self.stack.resolve(hit, follow=True)
                    except LayerError as exc:
                        item.setdefault('notes', []).append('%s: %s' % (display_path(hit), exc))
                        continue
                    if target is not None:
                        found.add(resolved)
                        item['matched'].append('%s (target of %s)' % (display_path(resolved), display_path(hit)))
        ordered = sorted(found)
        kept = []
        for path in ordered:
            if not any(path.startswith(parent.rstrip(b'/') + b'/') for parent in kept):
                kept.append(path)
        return kept, requested

    # -- mounts -----------------------------------------------------------------------

    def mounts(self):
        listed = []
        for index, mount in enumerate(self.facts.get('mounts') or []):
            item = dict(mount, index=index, collected=False)
            listed.append(item)
            kind = mount.get('type')
            if kind == 'volume':
                self.volume(index, mount, item)
            elif kind == 'bind':
                self.bind(index, mount, item)
            elif kind == 'tmpfs':
                item['volatile'] = True
                self.tmpfs(index, mount, item)
        self.exports['mounts'] = [{'index': item['index'], 'type': item.get('type'),
                                   'destination': item.get('destination'), 'collected': item.get('collected', False),
                                   'tar': item.get('tar'), 'why_not': item.get('why_not')} for item in listed]
        if self.dfir.check_mode:
            return
        try:
            record = self.evidence.write_json(self.base + '/mounts.json', listed, 'container_mounts', self.id,
                                              self.facts.get('source'))
            self.paths.append(record['path'])
        except EvidenceError as exc:
            self.errors.append(str(exc))

    def volume(self, index, mount, item):
        if not self.params['volumes']:
            item['why_not'] = 'volumes is false'
            return
        name = mount.get('name')
        if (mount.get('driver') or 'local') != 'local' or not name:
            item['why_not'] = 'only named volumes of the local driver are kept under the Docker root'
            return
        if self.run.tree is None or not VOLUME_NAME.match(name):
            item['why_not'] = 'the Docker root cannot be read' if self.run.tree is None else 'unexpected volume name'
            return
        data_dir = os.path.join(self.target.root.path, 'volumes', name, '_data')
        if not is_real_dir(data_dir):
            # nothing to read: an empty tar would stand for a volume that is not there
            if os.path.islink(data_dir):
                item['why_not'] = '%s is a symlink, which is not followed out of the Docker root' % data_dir
            elif os.path.lexists(data_dir):
                item['why_not'] = '%s is not a directory' % data_dir
            else:
                item['why_not'] = 'volume %s is not in the Docker root (no directory %s)' % (name, data_dir)
            self.errors.append('volume %s at %s: %s' % (name, mount.get('destination'), item['why_not']))
            return
        stack = LayerStack(self.run.tree, [Layer(0, 'tree', data_dir)], whiteout_format=None)
        self.mount_tar(stack, '%s/volumes/%s.tar' % (self.base, name), 'container_fs_volume', item,
                       {'volume': name, 'destination': mount.get('destination')})

    def bind(self, index, mount, item):
        if not self.params['bind_mounts']:
            item['why_not'] = 'bind_mounts is false (host data, collected only when asked)'
            return
        source = mount.get('source')
        if not source or not os.path.isabs(source):
            item['why_not'] = 'no source path'
            return
        # The source is a path of the Docker host: on a disk image it lies below the image's mount point, and
        # on a copy of the Docker root alone it is nowhere here; this machine's own path is never read for it.
        host_files, why = self.target.host_files()
        if host_files is None:
            item['why_not'] = 'its source %s is a path of the host the Docker root came from: %s' % (source, why)
            self.errors.append('bind mount %s: %s' % (mount.get('destination'), item['why_not']))
            return
        here = source if host_files == '/' else os.path.join(host_files, source.lstrip('/'))
        if host_files != '/':
            item['source_here'] = here
        if self.target.root is not None and _inside(self.dfir.evidence.path, here):
            item['why_not'] = 'the staging dir is inside this bind mount source'
            return
        single = os.path.lexists(here) and not os.path.isdir(here) or os.path.islink(here)
        base = os.path.dirname(source) if single else source
        try:
            if host_files == '/':
                tree = ReadOnlyTree(base, self.params['read_only_view'])
            else:
                # beneath the image's root, no symlink followed, so none of the image leads into this machine
                tree = ReadOnlyTree.beneath(host_files, base, self.params['read_only_view'])
        except OSError as exc:
            item['why_not'] = 'cannot open %s: %s' % (base, describe_os_error(exc))
            self.errors.append('bind mount %s: %s' % (mount.get('destination'), item['why_not']))
            return
        try:
            stack = LayerStack(tree, [Layer(0, 'tree', tree.path)], whiteout_format=None)
            item['read_method'] = tree.describe()
            self.mount_tar(stack, '%s/binds/%d.tar' % (self.base, index), 'container_fs_bind', item,
                           {'source_path': source, 'destination': mount.get('destination')},
                           os.fsencode('/' + os.path.basename(source)) if single else b'/')
        finally:
            tree.close()

    def tmpfs(self, index, mount, item):
        if not self.params['tmpfs']:
            item['why_not'] = 'tmpfs is false'
            return
        pid = self.facts.get('pid')
        elsewhere = self.target.elsewhere()
        if elsewhere and self.facts.get('running'):
            item['why_not'] = 'a tmpfs lives in the memory of the host the container ran on, and %s' % elsewhere
            self.notes.append('tmpfs %s: not collected, %s' % (mount.get('destination'), elsewhere))
            return
        if not self.facts.get('running') or not pid:
            item['why_not'] = 'the container is not running: a tmpfs lives in memory and is gone'
            self.notes.append('tmpfs %s: not collected, the container is not running' % mount.get('destination'))
            return
        if not _pid_of_container(pid, self.id):
            item['why_not'] = 'process %s does not belong to the container any more' % pid
            self.errors.append('tmpfs %s: %s' % (mount.get('destination'), item['why_not']))
            return
        try:
            tree = ReadOnlyTree.beneath('/proc/%d/root' % pid, mount.get('destination') or '', self.params['read_only_view'])
        except OSError as exc:
            item['why_not'] = 'cannot open it in the container: %s' % describe_os_error(exc)
            self.errors.append('tmpfs %s: %s' % (mount.get('destination'), item['why_not']))
            return
        try:
            stack = LayerStack(tree, [Layer(0, 'tree', tree.path)], whiteout_format=None)
            item['read_method'] = tree.describe()
            self.mount_tar(stack, '%s/tmpfs/%d.tar' % (self.base, index), 'container_fs_tmpfs', item,
                           {'destination': mount.get('destination'), 'volatile': True, 'pid': pid})
        finally:
            tree.close()

    def mount_tar(self, stack, relpath, kind, item, extra, path=b'/'):
        def fill(export):
            export.merged(path, name_base=os.path.dirname(path) if path != b'/' else None)
        record, report = self.write_tar(relpath, kind, fill, extra, stack=stack, source='disk')
        if stack.problems:
            self.errors.extend('%s: %s' % (item.get('destination'), problem) for problem in stack.problems)
        if record is not None:
            item.update(collected=True, tar=record['path'], entries=report.entries, complete=report.complete)
            if report.unreadable or report.changed:
                item['report'] = report.to_dict(full=False)


def _inside(path, directory):
    path = os.path.realpath(path)
    directory = os.path.realpath(directory)
    return path == directory or path.startswith(directory.rstrip('/') + '/')


def _pid_of_container(pid, container_id):
    """True when /proc/<pid>/cgroup names the container (cgroup v1 and v2, cgroupfs and systemd)."""
    try:
        with open('/proc/%d/cgroup' % pid, 'rb') as handle:
            return container_id.encode('ascii') in handle.read()
    except OSError:
        return False


class ExportRun:
    """One module run: the Docker root opened once, layers shared between containers."""

    def __init__(self, dfir):
        self.dfir = dfir
        self.tree = None
        self.layer_tars = {}
        remapped = dfir.target.root.remapped_ids() if dfir.target.root is not None else None
        self.ids = RemappedIds(*remapped) if remapped else None

    def open_tree(self):
        root = self.dfir.target.root
        if root is None:
            return
        try:
            self.tree = ReadOnlyTree(root.path, self.dfir.params['read_only_view'])
        except OSError as exc:
            self.dfir.warnings.append('the Docker root %s cannot be opened: %s' % (root.path, describe_os_error(exc)))

    def close(self):
        if self.tree is not None:
            self.tree.close()


def collect(dfir):
    blank = [index for index, pattern in enumerate(dfir.params['paths']) if not pattern.strip()]
    if blank:
        # an empty entry (an undefined variable, a stray comma) would otherwise match the whole root
        dfir.fail('paths entry %s is empty; give a path inside the container (use / for all of it, or mode merged)'
                  % ', '.join('#%d' % (index + 1) for index in blank))
    target = dfir.open_target()
    # refuses a staging dir inside the Docker root before creating it
    dfir.open_evidence()
    dfir.planned = []
    run = ExportRun(dfir)
    run.open_tree()
    try:
        ids, facts_by_id, selection_errors, _listing_errors = target.select(dfir.params['containers'])
        outcomes = []
        for requested, message in selection_errors:
            dfir.errors.append(message)
            outcomes.append({'requested': requested, 'failed': True, 'msg': message, 'artifacts': []})
        for container_id in ids:
            outcome = ContainerExport(run, container_id, facts_by_id.get(container_id)).execute()
            if outcome['failed']:
                dfir.errors.append('container %s: %s' % (container_id, outcome['msg']))
            outcomes.append(outcome)
    finally:
        run.close()
    result = {'containers': outcomes}
    if run.tree is not None:
        result['read_method'] = run.tree.describe()
    if dfir.check_mode:
        result['artifacts'] = dfir.planned
        dfir.finish(result, changed=bool(dfir.planned))
    dfir.finish(result)


def main():
    spec = source_argument_spec()
    spec.update(containers_argument_spec())
    spec.update(evidence_argument_spec())
    spec.update(
        mode=dict(type='list', elements='str', choices=list(MODES), default=['merged']),
        merged_via=dict(type='str', choices=['auto', 'disk', 'api'], default='auto'),
        merged_max_bytes=dict(type='int', default=0),
        paths=dict(type='list', elements='str', default=[]),
        paths_max_bytes=dict(type='int', default=256 * 1024 * 1024),
        volumes=dict(type='bool', default=False),
        bind_mounts=dict(type='bool', default=False),
        tmpfs=dict(type='bool', default=False),
        read_only_view=dict(type='bool', default=True),
    )
    DfirModule(spec).run(collect)


if __name__ == '__main__':
    main()
