#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: dfir.docker contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Documentation only: the work is done on the controller by plugins/action/case_verify.py.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: case_verify
short_description: Check a sealed case against SHA256SUMS, its signed manifest and an allowed_signers file
version_added: 0.1.0
description:
  - Runs on the controller, reads only. Fails naming every file that changed, is missing, or was added
    after sealing, and when the signature of C(manifest.json) does not verify for the signer.
  - The same checks anyone can run with standard tools, C(sha256sum -c SHA256SUMS) and
    C(ssh-keygen -Y verify -f allowed_signers -I <signer> -n dfir.docker -s manifest.json.sig < manifest.json).
author:
  - dfir.docker contributors
options:
  case_dir:
    description: The sealed case directory.
    type: path
    required: true
  allowed_signers:
    description: An OpenSSH C(allowed_signers) file you trust.
    type: path
    required: true
  signer:
    description: The signer identity to check; defaults to the one the manifest names.
    type: str
attributes:
  check_mode:
    support: full
    description: Reads only.
'''

EXAMPLES = r'''
- name: Verify case IR-42
  dfir.docker.case_verify:
    case_dir: ~/dfir-cases/IR-42
    allowed_signers: ~/allowed_signers
'''

RETURN = r'''
problems:
  description: Every problem found, one message each naming the file.
  returned: always
  type: list
  elements: str
files_checked:
  description: Number of files checked against SHA256SUMS.
  returned: always
  type: int
signature:
  description: The verdict of ssh-keygen on the signature.
  returned: when it verifies
  type: str
signer:
  description: The signer identity checked.
  returned: always
  type: str
'''
