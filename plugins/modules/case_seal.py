#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: dfir.docker contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Documentation only: the work is done on the controller by plugins/action/case_seal.py.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: case_seal
short_description: Re-check every artifact of a case and seal it with an SSH-signed manifest
version_added: 0.1.0
description:
  - Runs on the controller. Hashes every fetched artifact again and compares it with the hash taken on
    the host; refuses to seal when a file is missing, changed or not accounted for.
  - Writes C(manifest.json) (case, examiner, tool version, times, hosts with their status
    V(collected), V(partial) or V(failed), every artifact with its source and controller hashes),
    signs it with C(ssh-keygen -Y sign) in the namespace C(dfir.docker) into C(manifest.json.sig),
    and writes C(SHA256SUMS) so that C(sha256sum -c SHA256SUMS) checks every file.
  - A case that cannot be signed (missing key, wrong passphrase) is left unsealed, and the custody
    log says why.
author:
  - dfir.docker contributors
options:
  case_dir:
    description: The case directory.
    type: path
    required: true
  case_id:
    description: The case id, written into the manifest.
    type: str
    required: true
  examiner:
    description: Who acquired the evidence.
    type: str
    required: true
  signing_key:
    description: The examiner's SSH private key, or the public key of a key held in ssh-agent.
    type: path
    required: true
  signing_key_passphrase:
    description: Passphrase of O(signing_key), if it has one.
    type: str
  signer:
    description: The signer identity (principal) as written in C(allowed_signers).
    type: str
    required: true
  hosts:
    description: Every host of the play, so that a host that produced nothing is still listed as failed.
    type: list
    elements: str
    default: []
  host_failures:
    description: Reasons for hosts that failed, by host name.
    type: dict
    default: {}
  description:
    description: Free text written into the manifest.
    type: str
attributes:
  check_mode:
    support: full
    description: Seals nothing.
'''

EXAMPLES = r'''
- name: Seal the case
  dfir.docker.case_seal:
    case_dir: ~/dfir-cases/IR-42
    case_id: IR-42
    examiner: jdoe
    signing_key: ~/.ssh/id_ed25519
    signer: jdoe@example.org
  run_once: true
'''

RETURN = r'''
manifest:
  description: Path of the manifest.
  returned: success
  type: str
summary:
  description: Counts of hosts by status, artifacts and bytes.
  returned: success
  type: dict
hosts:
  description: Status of each host.
  returned: success
  type: dict
signer_fingerprint:
  description: SHA-256 fingerprint of the signing key.
  returned: success
  type: str
'''
