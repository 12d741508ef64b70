#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: dfir.docker contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: case_verify
short_description: Check a sealed case, anywhere, at any later time
version_added: 0.1.0
description:
  - An action plugin that runs on the controller and reads only.
  - Re-hashes every file against C(SHA256SUMS) and against the signed manifest, reports any file
    changed, missing or added after sealing by name, and checks C(manifest.json.sig) with
    C(ssh-keygen -Y verify) against an C(allowed_signers) file you trust.
author:
  - dfir.docker maintainers (@dfir-docker)
options:
  case_dir:
    description: The sealed case directory.
    type: path
    required: true
  allowed_signers:
    description: An OpenSSH allowed_signers file naming the examiners whose signatures you accept.
    type: path
    required: true
  signer:
    description: The signer identity to check; defaults to the one the manifest names.
    type: str
attributes:
  action:
    support: full
    description: Runs on the controller as an action plugin.
  check_mode:
    support: full
    description: Always reads only.
requirements:
  - ssh-keygen (OpenSSH 8.1 or later) on the controller
'''

EXAMPLES = r'''
- name: Verify case IR-42
  dfir.docker.case_verify:
    case_dir: /srv/cases/IR-42
    allowed_signers: ~/.config/dfir/allowed_signers
'''

RETURN = r'''
problems:
  description: Every problem found, each naming the file.
  returned: always
  type: list
  elements: str
files_checked:
  description: Number of files checked against SHA256SUMS.
  returned: always
  type: int
signature:
  description: ssh-keygen's verdict on the signature.
  returned: success
  type: str
'''
