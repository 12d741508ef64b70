#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: dfir.docker contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: case_open
short_description: Open a case directory on the controller, after checking the signing key
version_added: 0.1.0
description:
  - Runs on the controller only (an action plugin); touches no host.
  - Checks that the case id can name a directory, that the JMESPath selection parses, and that the
    signing key loads (with its passphrase, if any), so a run that could not be sealed fails before any
    host is touched.
  - Also checks the host-side values in O(parameters) that the controller can judge alone, each named by
    its role variable; the run fails before any host is touched when one is wrong. C(evidence_dir) and a
    non-empty C(docker_root) must be absolute paths (or start with C(~)), below C(/); C(containers) a list of
    non-empty strings; C(source) one of V(auto), V(api), V(disk); C(docker_host) a C(unix://) socket.
  - Creates C(<case_root>/<case_id>/hosts/) and writes the first line of C(custody.jsonl), with the
    parameters of the acquisition and the signing key's fingerprint.
  - A case that is already sealed is never reopened. An unsealed one is, to add hosts after a failure.
author:
  - dfir.docker maintainers (@dfir-docker)
options:
  case_root:
    description: Directory on the controller that holds cases.
    type: path
    required: true
  case_id:
    description: The case id; letters, digits, C(.), C(_) and C(-).
    type: str
    required: true
  examiner:
    description: Who acquires the evidence.
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
    description: The signer identity of the key in C(allowed_signers).
    type: str
    required: true
  select:
    description: A JMESPath expression to check before anything runs.
    type: str
  hosts:
    description: The hosts the acquisition will run on, for the custody log.
    type: list
    elements: str
    default: []
  parameters:
    description:
      - Acquisition parameters to record in the custody log.
      - The keys C(evidence_dir), C(docker_root), C(containers), C(source) and C(docker_host) are checked first
        (see above).
    type: dict
    default: {}
attributes:
  action:
    support: full
    description: Runs on the controller as an action plugin.
  check_mode:
    support: full
    description: Checks everything and creates nothing.
'''

EXAMPLES = r'''
- name: Open case IR-42
  dfir.docker.case_open:
    case_root: /srv/cases
    case_id: IR-42
    examiner: Jane Doe
    signing_key: ~/.ssh/id_ed25519
    signer: jane@example.org
  run_once: true
  register: case
'''

RETURN = r'''
case_dir:
  description: The case directory.
  returned: success
  type: str
case_id:
  description: The case id.
  returned: success
  type: str
reopened:
  description: Whether the case directory existed already (unsealed).
  returned: success
  type: bool
signer_fingerprint:
  description: SHA256 fingerprint of the signing key.
  returned: success
  type: str
'''
