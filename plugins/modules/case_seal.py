#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: dfir.docker contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: case_seal
short_description: Seal a case with a manifest signed by the examiner's SSH key
version_added: 0.1.0
description:
  - An action plugin that runs once on the controller after every host was fetched.
  - Hashes every artifact of the case once more and refuses to seal when one differs from the hash
    taken at the source, is missing, or when the case holds a file no collection recorded.
  - Writes C(manifest.json) (case, examiner, tool version, start and end times, every host with its
    status C(collected), C(partial) or C(failed) and why, every artifact with host, container, kind, size
    and both hashes, and the SHA-256 of every file), signs it with C(ssh-keygen -Y sign) (SSHSIG,
    namespace C(dfir.docker)) into C(manifest.json.sig), and writes C(SHA256SUMS) over every file.
  - The key is loaded first; when it cannot be, nothing is written and the reason is given, so the case
    can be sealed later with the right key.
  - Anyone can check the result with standard tools
    (C(sha256sum -c SHA256SUMS); C(ssh-keygen -Y verify -f allowed_signers -I <signer> -n dfir.docker -s manifest.json.sig < manifest.json)).
author:
  - dfir.docker maintainers (@dfir-docker)
options:
  case_dir:
    description: The case directory.
    type: path
    required: true
  case_id:
    description: The case id.
    type: str
    required: true
  examiner:
    description: Who acquired the evidence.
    type: str
    required: true
  signing_key:
    description: The examiner's SSH private key, or the C(.pub) of a key held in ssh-agent.
    type: path
    required: true
  signing_key_passphrase:
    description: Passphrase of O(signing_key), if any.
    type: str
  signer:
    description: The signer identity recorded in the manifest (the principal in C(allowed_signers)).
    type: str
    required: true
  hosts:
    description: Every host the acquisition ran on; those without a collection are recorded as failed.
    type: list
    elements: str
    default: []
  host_failures:
    description:
      - Why hosts failed, by host name (the C(acquire) role passes every host's recorded failure).
      - Used for a host that has no C(collection.json), for example one that could not be reached.
    type: dict
    default: {}
  description:
    description: Free text for the manifest.
    type: str
attributes:
  action:
    support: full
    description: Runs on the controller as an action plugin.
  check_mode:
    support: full
    description: Seals nothing.
requirements:
  - ssh-keygen (OpenSSH 8.1 or later) on the controller
'''

EXAMPLES = r'''
- name: Seal the case
  dfir.docker.case_seal:
    case_dir: /srv/cases/IR-42
    case_id: IR-42
    examiner: Jane Doe
    signing_key: ~/.ssh/id_ed25519
    signer: jane@example.org
    hosts: "{{ ansible_play_hosts_all }}"
  run_once: true
'''

RETURN = r'''
manifest:
  description: Path of manifest.json.
  returned: success
  type: str
summary:
  description: Counts of hosts by status, artifacts and bytes.
  returned: success
  type: dict
hosts:
  description: Status of each host (V(collected), V(partial) or V(failed)).
  returned: success
  type: dict
host_lines:
  description: One line per host for the run's summary, with its status, artifact count, and why it failed.
  returned: success
  type: list
  elements: str
'''
