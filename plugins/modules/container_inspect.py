#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: dfir.docker contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: container_inspect
short_description: Preserve what Docker knows of containers, their images and their layers
version_added: 0.1.0
description:
  - For each container, writes into O(evidence_dir) under C(containers/<full id>/)
  - C(inspect.json), the inspect document as the Engine API sent it, byte for byte; from disk, an
    inspect document rebuilt from the config files (its record says C(source=disk)).
  - C(config/), byte-exact copies of the files in the container's directory of the Docker root
    (C(config.v2.json) or C(config.json), C(hostconfig.json), C(hostname), C(hosts), C(resolv.conf),
    C(resolv.conf.hash), and C(mounts/) when present). Logs are left to M(dfir.docker.container_logs).
    They are copied even when they cannot be parsed, so a corrupt config is preserved as found.
  - The files under C(mounts/shm/) (the tmpfs behind the container's own C(/dev/shm), which the container writes at
    will) are the container's data, kept as kind C(container_shm) under C(config/mounts/shm/); one that changes
    or disappears while it is collected is noted, not failed. A name there that is not UTF-8 is kept escaped, each
    such byte as C(\xNN), and a backslash or control character in it escaped too; its record has C(name_escaped).
  - Everything in the container's directory is listed and opened beneath the directory with C(O_NOATIME) and
    without following any symlink, not even in the middle of a path. Entries that are not regular files (a
    symlink, with its target text, a fifo, a device) are listed in C(special_files.json), never read or followed.
  - C(image/config.json), the image config byte for byte from the image store (its SHA-256 is the
    image id, which the record checks); live, also C(image/inspect.json) and C(image/history.json) from the API.
  - C(layers.json), the layer chain, oldest first, with diff ids, chain ids, cache ids, their
    directories and the image history step that made each layer; and the writable layer with its
    mount id, init layer and the lower directories the storage driver recorded. Directories are the driver's own,
    C(overlay2/<id>/diff), C(overlay/<id>/root) for an image layer and C(overlay/<id>/upper) for a container's
    (C(lower-id) names the image layer below), C(vfs/dir/<id>) (each a full copy), C(aufs/diff/<id>).
    C(layers_are_diffs) is false for V(vfs) and V(overlay), whose image layers are full copies.
  - One call handles all requested containers; a container that fails is reported and the others
    are still collected.
author:
  - dfir.docker maintainers (@dfir-docker)
extends_documentation_fragment:
  - dfir.docker.common
  - dfir.docker.common.containers
  - dfir.docker.common.evidence
attributes:
  check_mode:
    support: full
    description: In check mode, lists the artifacts it would write and their sizes where known.
'''

EXAMPLES = r'''
- name: Preserve the configuration of two containers
  dfir.docker.container_inspect:
    containers: [web, 3f2a9c]
    evidence_dir: /var/tmp/dfir/case-42
  become: true
  register: inspected

- name: Rebuild inspect documents from a dead host's disk
  dfir.docker.container_inspect:
    source: disk
    docker_root: /mnt/evidence/var/lib/docker
    evidence_dir: /srv/staging/case-42
  become: true
'''

RETURN = r'''
artifacts:
  description: Every artifact written, each with path (relative to O(evidence_dir)), kind, sha256, size,
    container_id, collected_at and source; copies of host files also carry source_stat (size, mode,
    owner, inode and times of the original).
  returned: always
  type: list
  elements: dict
  sample:
    - path: containers/8e8b7f23eb7cbd4dfe7e91646ddd0e0f524218e25d50113559f078dfb2690206/config/config.v2.json
      kind: container_config
      sha256: 0b1b6d0d4ba7a8c2d3e5b8f9f8ea3bd3c6b4c1e2f0a9d8e7c6b5a4f3e2d1c0b9
      size: 2557
      container_id: 8e8b7f23eb7cbd4dfe7e91646ddd0e0f524218e25d50113559f078dfb2690206
      collected_at: "2026-12-03T16:20:00.000000Z"
      source: /var/lib/docker/containers/8e8b7f23eb7c.../config.v2.json
containers:
  description: One entry per requested container with id, name, failed, msg, notes and its artifact paths.
  returned: always
  type: list
  elements: dict
errors:
  description: What failed, one message per problem, naming the container or reference.
  returned: always
  type: list
  elements: str
source:
  description: The source used, V(api) or V(disk).
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

import functools
import os

from ansible_collections.dfir.docker.plugins.module_utils._common import (
    DfirModule,
    containers_argument_spec,
    evidence_argument_spec,
    source_argument_spec,
)
from ansible_collections.dfir.docker.plugins.module_utils._docker_root import (
    ContainerConfigError,
    DockerRootError,
    list_config_files,
)
from ansible_collections.dfir.docker.plugins.module_utils._engine_api import EngineAPIError, EngineNotFound
from ansible_collections.dfir.docker.plugins.module_utils._evidence import EvidenceError, planned
from ansible_collections.dfir.docker.plugins.module_utils._safe_io import describe_os_error, json_safe


class ContainerRun:
    """Collects one container; problems go to `errors`, never stop the others."""

    def __init__(self, dfir, container_id, facts):
        self.dfir = dfir
        self.target = dfir.target
        self.evidence = dfir.evidence
        self.id = container_id
        self.facts = facts or {}
        self.base = 'containers/%s' % container_id
        self.errors = []
        self.notes = []
        self.paths = []
        # Ask the daemon only about containers it listed; a container found only
        # on disk (half-removed, or with a config the daemon refused) is read from disk.
        self.live = self.target.client is not None and self.facts.get('source') == 'api'

    def record(self, record):
        self.paths.append(record['path'])
        return record

    def write(self, kind, relpath, writer, *args, **kwargs):
        """Run one write; an EvidenceError is this container's error, not the module's end."""
        if self.dfir.check_mode:
            size = kwargs.pop('planned_size', None)
            self.dfir.planned.append(planned(relpath, kind, size, self.id))
            self.paths.append(relpath)
            return None
        kwargs.pop('planned_size', None)
        try:
            return self.record(writer(relpath, *args, **kwargs))
        except EvidenceError as exc:
            self.errors.append(str(exc))
        except OSError as exc:
            self.errors.append('%s not collected: %s' % (relpath, describe_os_error(exc)))
        return None

    def run(self):
        disk = self.disk_container()
        self.inspect_document(disk)
        self.config_files()
        if disk is not None:
            self.image_and_layers(disk)
        elif self.live:
            self.api_image(self.facts.get('image_id'))
        return {
            'id': self.id,
            'name': self.facts.get('name'),
            'failed': bool(self.errors),
            'msg': '; '.join(self.errors) if self.errors else 'collected',
            'notes': self.notes,
            'artifacts': self.paths,
        }

    def disk_container(self):
        try:
            return self.target.disk_container(self.id)
        except ContainerConfigError as exc:
            self.errors.append(str(exc))
        except DockerRootError as exc:
            if self.target.client:
                self.notes.append(str(exc))
            else:
                self.errors.append(str(exc))
        return None

    def inspect_document(self, disk):
        relpath = self.base + '/inspect.json'
        if self.live:
            try:
                raw = self.target.client.inspect_container_raw(self.id)
            except EngineNotFound:
                self.errors.append('container %s no longer exists (removed during collection)' % self.id)
                return
            except EngineAPIError as exc:
                self.errors.append('inspect of %s failed: %s' % (self.id, exc))
                return
            self.write('container_inspect', relpath, self.evidence.write_bytes, raw, 'container_inspect',
                       self.id, 'api', planned_size=len(raw))
        elif disk is not None:
            self.write('container_inspect', relpath, self.evidence.write_json, disk.inspect_document(),
                       'container_inspect', self.id, 'disk', {'rebuilt_from': disk.config_path})

    def config_files(self):
        if self.target.root is None:
            return
        directory = self.target.root.container_dir(self.id)
        try:
            listing = list_config_files(directory, self.id)
        except ContainerConfigError as exc:
            self.errors.append(str(exc))
            return
        for relative, kind in listing.files:
            # The container names the files of its /dev/shm: a name that is not UTF-8 is escaped as
            # display_path shows it (Ansible takes no such name in a result), and the record says so.
            shown = json_safe(relative)
            extra = {'name_escaped': True} if shown != relative else None
            relpath = '%s/config/%s' % (self.base, shown)
            if self.dfir.check_mode:
                self.write(kind, relpath, None, planned_size=self._size(listing, relative))
                continue
            try:
                fd, st = listing.open(relative)
            except OSError as exc:
                message = '%s not collected: %s' % (relpath, describe_os_error(exc))
                if kind == 'container_shm':
                    # the container's own /dev/shm changes under us while it runs: say so, it is not a failure
                    self.notes.append(message)
                else:
                    self.errors.append(message)
                continue
            source = os.path.join(directory, shown)
            try:
                self.write(kind, relpath, functools.partial(self.evidence.copy_fd, fd, st, source, kind=kind,
                                                            container_id=self.id, extra=extra))
            finally:
                os.close(fd)
        if listing.special:
            self.notes.append('not regular files, listed and not read or followed: %s' % listing.describe_special())
            self.write('container_special_files', '%s/special_files.json' % self.base, self.evidence.write_json,
                       listing.special, 'container_special_files', self.id, 'disk')

    @staticmethod
    def _size(listing, relative):
        try:
            fd, st = listing.open(relative)
        except OSError:
            return None
        os.close(fd)
        return st.st_size

    def _copy(self, relpath, source_path, kind):
        return self.evidence.copy_file(source_path, relpath, kind, self.id)

    def image_and_layers(self, disk):
        root = self.target.root
        image = None
        try:
            image = root.load_image(disk.driver, disk.image_id)
        except DockerRootError as exc:
            self.notes.append('image config not on disk: %s' % exc)
        if image is not None and image.get('config_path') and root.layout == 'v2':
            record = self.write('image_config', self.base + '/image/config.json', self._copy,
                                image['config_path'], 'image_config')
            if record is not None:
                record['matches_image_id'] = record['sha256'] == disk.image_id.split(':')[-1]
                if not record['matches_image_id']:
                    self.notes.append('the image config on disk does not hash to the image id %s: it was altered'
                                      % disk.image_id)
        elif image is not None and root.layout == 'v1':
            for item in image['v1_chain']:
                self.write('image_config', '%s/image/graph/%s.json' % (self.base, item['id']), self._copy,
                           item['json_path'], 'image_config')
        if image is not None and not self.live:
            self.write('image_history', self.base + '/image/history.json', self.evidence.write_json,
                       image['history'], 'image_history', self.id, 'disk',
                       {'extracted_from': image.get('config_path')})
        if self.live:
            self.api_image(disk.image_id)
        chain = disk.layer_chain(image)
        if chain['errors']:
            self.notes.extend(chain['errors'])
        self.write('layer_chain', self.base + '/layers.json', self.evidence.write_json, chain,
                   'layer_chain', self.id, 'disk')

    def api_image(self, image_id):
        if not image_id:
            return
        client = self.target.client
        for name, fetch, kind in (('inspect.json', client.inspect_image_raw, 'image_inspect'),
                                  ('history.json', client.image_history_raw, 'image_history')):
            try:
                raw = fetch(image_id)
            except EngineNotFound:
                self.notes.append('image %s is no longer known to the daemon' % image_id)
                return
            except EngineAPIError as exc:
                self.notes.append('image %s: %s' % (name, exc))
                continue
            self.write(kind, '%s/image/%s' % (self.base, name), self.evidence.write_bytes, raw, kind,
                       self.id, 'api', planned_size=len(raw))


def collect(dfir):
    target = dfir.open_target()
    dfir.open_evidence()
    dfir.planned = []
    ids, facts_by_id, selection_errors, listing_errors = target.select(dfir.params['containers'])
    outcomes = []
    for requested, message in selection_errors:
        dfir.errors.append(message)
        outcomes.append({'requested': requested, 'failed': True, 'msg': message, 'artifacts': []})
    for container_id in ids:
        outcome = ContainerRun(dfir, container_id, facts_by_id.get(container_id)).run()
        if outcome['failed']:
            dfir.errors.append('container %s: %s' % (container_id, outcome['msg']))
        outcomes.append(outcome)
    result = {'containers': outcomes}
    if dfir.check_mode:
        result['artifacts'] = dfir.planned
        dfir.finish(result, changed=bool(dfir.planned))
    dfir.finish(result)


def main():
    spec = source_argument_spec()
    spec.update(containers_argument_spec())
    spec.update(evidence_argument_spec())
    DfirModule(spec).run(collect)


if __name__ == '__main__':
    main()
