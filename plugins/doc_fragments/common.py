# -*- coding: utf-8 -*-
# Copyright: dfir.docker contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):

    # Where a host-side module reads from.
    DOCUMENTATION = r'''
options:
  source:
    description:
      - Where to read from.
      - V(api) talks to the Docker Engine API over O(docker_host) and fails when no daemon answers.
      - V(disk) reads the Docker root O(docker_root) and never contacts a daemon; use it for a
        dead host's disk mounted read-only, or when the daemon itself is not trusted.
      - V(auto) uses the API when the socket answers, else the disk, and says so in a warning.
    type: str
    choices: [auto, api, disk]
    default: auto
  docker_host:
    description:
      - The Docker daemon socket. Only C(unix://) sockets are supported, so nothing but the host
        itself talks to the engine.
    type: str
    default: unix:///var/run/docker.sock
  docker_root:
    description:
      - The Docker root to read files from.
      - Defaults to the engine's C(DockerRootDir) when the API answers, else C(/var/lib/docker).
      - For a user-namespace-remapped daemon, the remapped root C(<root>/<uid>.<gid>).
      - In V(disk) mode, the tree to read, for example the C(var/lib/docker) of a mounted disk image.
    type: path
  timeout:
    description: Seconds to wait for an answer from the daemon.
    type: int
    default: 60
notes:
  - "Runs on the Docker host, usually with C(become: true), using the Python standard library only."
  - Reads evidence without following symlinks and with C(O_NOATIME) where the kernel allows it.
'''

    CONTAINERS = r'''
options:
  containers:
    description:
      - Containers to act on, by full id, unique id prefix or name (with or without the leading C(/)).
      - An unknown name fails that entry, listing the containers there are (name and short id, the first 20
        by name); an ambiguous prefix fails it listing the containers it matches. The other containers are still
        handled.
      - Empty means every container the source knows of, running or not.
    type: list
    elements: str
    default: []
'''

    EVIDENCE = r'''
options:
  evidence_dir:
    description:
      - The staging directory on the host that artifacts are written into. It is created (mode 0700)
        when missing. Each artifact is written to C(<name>.partial), hashed while written, and
        renamed only when complete; a failed artifact is removed and not recorded.
      - Keep it off the filesystem that holds the evidence when you can, since writing there can
        overwrite deleted data that could still be recovered.
      - Refused before anything is created when it is, or would be once created, inside a Docker root (the
        O(docker_root) given or read, the live daemon's C(DockerRootDir), C(/var/lib/docker), or the root that holds
        a user-namespace-remapped one; symlinks resolved, bind mounts of a root recognised). The error names both paths.
    type: path
    required: true
'''
