#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: dfir.docker contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: engine_facts
short_description: Inventory of a Docker engine and all of its containers, live or from disk
version_added: 0.1.0
description:
  - Reports the engine (version, API version, storage driver, Docker root, user-namespace remapping,
    rootless mode, logging driver, security options) and every container, running or not.
  - Live, it asks the Engine API; from disk, it reads each container's config files, and a
    container is reported running when its config says so (on a dead host's disk, it was running
    when the host went down).
  - When the API answers and the Docker root is readable too, every field where the daemon and the
    files disagree is listed in RV(disagreements); a mismatch can mean tampering or a daemon in trouble.
  - With O(evidence_dir), the report and the daemon's C(daemon.json) are written there as artifacts.
  - Changes nothing on the host; writes only into O(evidence_dir) when it is given.
author:
  - dfir.docker maintainers (@dfir-docker)
extends_documentation_fragment:
  - dfir.docker.common
options:
  evidence_dir:
    description:
      - When set, write the report as C(engine.json) and a copy of C(daemon.json) into this staging
        directory, hashed while written.
      - Refused before anything is created when it is, or would be once created, inside a Docker root (the
        O(docker_root) given or read, the live daemon's C(DockerRootDir), C(/var/lib/docker), or the root that holds
        a user-namespace-remapped one; symlinks resolved, bind mounts of a root recognised). The error names both paths.
    type: path
attributes:
  check_mode:
    support: full
    description: Reads only; in check mode nothing is written to O(evidence_dir).
'''

EXAMPLES = r'''
- name: Inventory the engine and its containers
  dfir.docker.engine_facts:
  become: true
  register: docker_inventory

- name: Show the running containers
  ansible.builtin.debug:
    msg: "{{ docker_inventory.containers | selectattr('running') | map(attribute='name') | list }}"

- name: Inventory a dead host's Docker root from a disk image mounted at /mnt/evidence
  dfir.docker.engine_facts:
    source: disk
    docker_root: /mnt/evidence/var/lib/docker
  become: true
'''

RETURN = r'''
engine:
  description: What the source knows of the engine; keys the source cannot know are null.
  returned: success
  type: dict
  contains:
    source:
      description: "V(api) or V(disk)."
      type: str
      returned: always
    version:
      description: "Engine version (API only)."
      type: str
      returned: always
    api_version:
      description: "Highest API version the daemon speaks (API only)."
      type: str
      returned: always
    storage_driver:
      description: "Storage driver, e.g. C(overlay2)."
      type: str
      returned: always
    docker_root:
      description: "The Docker root."
      type: str
      returned: always
    userns_remap:
      description: "Whether the daemon remaps user namespaces."
      type: bool
      returned: always
    rootless:
      description: "Whether the daemon runs rootless."
      type: bool
      returned: always
    logging_driver:
      description: "Default logging driver."
      type: str
      returned: always
    security_options:
      description: "Security options the daemon reports."
      type: list
      elements: str
      returned: always
    host_files:
      description:
        - Where the Docker host's own files (bind-mount sources, C(/etc), its daemon's config) are seen from here.
          V(/) when the Docker root is this machine's (read live, or read where its daemon kept it);
          C(<image>) for a root read at C(<image>/var/lib/docker) of a mounted disk image; null when the root is
          a copy whose host files are not reachable (see RV(engine.host_files_unknown)). The modules read the host's
          files there, and never this machine's instead.
      type: str
      returned: when the Docker root is readable
    host_files_unknown:
      description: Why RV(engine.host_files) is null, else null.
      type: str
      returned: when the Docker root is readable
    remapped_roots:
      description: User-namespace-remapped roots found under the Docker root, each with path, uid and gid.
      type: list
      elements: dict
      returned: when the Docker root is readable
  sample:
    source: api
    version: 20.10.24+dfsg1
    api_version: "1.41"
    storage_driver: overlay2
    docker_root: /var/lib/docker
    userns_remap: false
    rootless: false
    logging_driver: json-file
    security_options: [name=seccomp,profile=default]
containers:
  description: Every container, running or not.
  returned: success
  type: list
  elements: dict
  contains:
    id:
      description: "Full container id."
      type: str
      returned: always
    name:
      description: "Name without the leading slash."
      type: str
      returned: always
    image:
      description: "Image as the user named it."
      type: str
      returned: always
    image_id:
      description: "Image id (sha256 digest of its config)."
      type: str
      returned: always
    state:
      description: "One of created, running, paused, restarting, removing, exited, dead. V(removing) comes from the API
        only: read from disk, a removal that was cut short is V(dead), as dockerd restores such a container."
      type: str
      returned: always
    running:
      description: "Whether it runs (on disk, whether its config says so)."
      type: bool
      returned: always
    pid:
      description: "Host PID of its first process when running."
      type: int
      returned: always
    created:
      description: "Creation time, UTC ISO 8601."
      type: str
      returned: always
    started_at:
      description: "Last start, UTC ISO 8601, or null."
      type: str
      returned: always
    finished_at:
      description: "Last exit, UTC ISO 8601, or null."
      type: str
      returned: always
    storage_driver:
      description: "Storage driver of its layers."
      type: str
      returned: always
    mount_id:
      description: "Driver directory of its writable layer."
      type: str
      returned: always
    upper_dir:
      description: "Directory holding its writable layer on this host."
      type: str
      returned: always
    log_path:
      description: "Log file path as the daemon recorded it."
      type: str
      returned: always
    log_file:
      description: "The log file on the tree being read (rebased for a mounted image)."
      type: str
      returned: always
    log_driver:
      description: "Logging driver of the container."
      type: str
      returned: always
    labels:
      description: "Container labels."
      type: dict
      returned: always
    mounts:
      description: "Volumes, bind mounts and tmpfs mounts."
      type: list
      elements: dict
      returned: always
    privileged:
      description:
        - "Whether the container runs privileged. Null from disk when C(hostconfig.json) cannot be used (see
          RV(containers[].host_config_error)): unknown, not false."
      type: bool
      returned: when the container's config could be read
    pid_mode:
      description: "The PID namespace mode, e.g. V(host); null for the container's own namespace or when unknown."
      type: str
      returned: when the container's config could be read
    network_mode:
      description: "The network mode, e.g. V(host), V(bridge), V(none); null when unknown."
      type: str
      returned: when the container's config could be read
    userns_mode:
      description: "The user namespace mode, e.g. V(host); null when the daemon's default applies or when unknown."
      type: str
      returned: when the container's config could be read
    host_config_error:
      description:
        - Why C(hostconfig.json) could not be used (missing, unreadable, not JSON, or fields of the wrong type),
          else null. The container is still read from its config file; what only the host config tells
          (privileged, namespaces, log driver, tmpfs and mounts it declares) is then unknown.
      type: str
      returned: always
    config_error:
      description: Why the container's config file could not be read; only the id and the file are known then.
      type: str
      returned: when the config file is missing or corrupt
    known_to_daemon:
      description: V(false) for a container found on disk that the live daemon does not list.
      type: bool
      returned: when both the API and the disk were read and they disagree on it
    source:
      description: "Where this entry was read: V(api) or V(disk)."
      type: str
      returned: always
disagreements:
  description: Fields where the live API and the files on disk disagree, each with container_id, field, api and disk.
  returned: success
  type: list
  elements: dict
errors:
  description: Containers that could not be read (for example a corrupt config file), with the reason.
  returned: always
  type: list
  elements: str
artifacts:
  description: Artifacts written into O(evidence_dir), each with path, kind, sha256, size, container_id and collected_at.
  returned: always
  type: list
  elements: dict
source:
  description: The source that was used.
  returned: success
  type: str
started_at:
  description: When the module started, UTC ISO 8601.
  returned: always
  type: str
finished_at:
  description: When the module finished, UTC ISO 8601.
  returned: always
  type: str
'''

import errno

from ansible_collections.dfir.docker.plugins.module_utils._common import DfirModule, source_argument_spec
from ansible_collections.dfir.docker.plugins.module_utils._evidence import EvidenceError, planned
from ansible_collections.dfir.docker.plugins.module_utils._safe_io import describe_os_error


def collect(dfir):
    target = dfir.open_target()
    engine = target.engine()
    containers, errors, disagreements = target.containers()
    for _container_id, message in errors:
        dfir.errors.append(message)
    for item in containers:
        if item.get('host_config_error'):
            dfir.warnings.append('container %s: its host config is not used, so privileged, namespaces and log driver '
                                 'are unknown: %s' % (item['id'], item['host_config_error']))
    result = {'engine': engine, 'containers': containers, 'disagreements': disagreements}
    if dfir.params['evidence_dir']:
        write_report(dfir, target, result)
    dfir.finish(result)


def write_report(dfir, target, result):
    evidence = dfir.open_evidence()
    report = dict(result)
    report['errors'] = list(dfir.errors)
    report['warnings'] = list(dfir.warnings)
    report['collected_at'] = dfir.started_at
    daemon_config = target.daemon_config_path()
    if dfir.check_mode:
        result['artifacts'] = [planned('engine.json', 'engine_facts', None)]
        return
    try:
        evidence.write_json('engine.json', report, 'engine_facts', source=target.source)
        if daemon_config:
            try:
                evidence.copy_file(daemon_config, 'daemon.json', 'daemon_config')
            except OSError as exc:
                if exc.errno != errno.ENOENT:
                    dfir.warnings.append('daemon config not collected: %s' % describe_os_error(exc))
    except EvidenceError as exc:
        dfir.errors.append(str(exc))


def main():
    spec = source_argument_spec()
    spec['evidence_dir'] = dict(type='path')
    DfirModule(spec).run(collect)


if __name__ == '__main__':
    main()
