#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: dfir.docker contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Documentation only: the work is done on the controller by plugins/action/case_open.py.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: case_open
short_description: Open (or reopen) a case directory on the controller, checking the signing key first
version_added: 0.1.0
description:
  - Runs on the controller. Checks the case id, the JMESPath selection and the signing key (it must
    load, with its passphrase if it has one) before anything else, so a run that could not be sealed
    fails before any host is touched.
  - Creates C(<case_root>/<case_id>/hosts/) and writes the first line of C(custody.jsonl).
  - Refuses a case that is already sealed; an unsealed case is reopened (to add hosts after a failure).
  - Used by the C(acquire) role; rarely called directly.
author:
  - dfir.docker contributors
options:
  case_root:
    description: Directory on the controller that holds cases.
    type: path
    required: true
  case_id:
    description: Identifier of the case, used as its directory name (letters, digits, V(.), V(_), V(-)).
    type: str
    required: true
  examiner:
    description: Who acquires the evidence, written into the custody log.
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
    description: The signer identity (principal) written into the custody log and later the manifest.
    type: str
    required: true
  select:
    description: The JMESPath selection the run will use, checked here for syntax.
    type: str
  hosts:
    description: The hosts of the play, for the custody log.
    type: list
    elements: str
    default: []
  parameters:
    description: The run's parameters, written into the custody log.
    type: dict
    default: {}
attributes:
  check_mode:
    support: full
    description: Checks the key and the case id and creates nothing.
'''

EXAMPLES = r'''
- name: Open case IR-42
  dfir.docker.case_open:
    case_root: ~/dfir-cases
    case_id: IR-42
    examiner: jdoe
    signing_key: ~/.ssh/id_ed25519
    signer: jdoe@example.org
  run_once: true
  register: dfir_case
'''

RETURN = r'''
case_dir:
  description: The case directory.
  returned: success
  type: str
reopened:
  description: Whether an existing unsealed case was reopened.
  returned: success
  type: bool
started_at:
  description: When the case was opened, UTC ISO 8601.
  returned: success and not check mode
  type: str
signer_fingerprint:
  description: SHA-256 fingerprint of the signing key.
  returned: success
  type: str
'''
