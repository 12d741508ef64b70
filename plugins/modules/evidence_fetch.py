#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: dfir.docker contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Documentation only: the work is done on the controller by plugins/action/evidence_fetch.py.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: evidence_fetch
short_description: Bring a host's artifacts into the case, hash them again, log custody
version_added: 0.1.0
description:
  - Streams every artifact the collecting steps recorded from the staging directory on the host into
    C(<case_dir>/hosts/<inventory_hostname>/) with the connection's own file transfer, and hashes each
    again on the controller. An artifact whose hash or size differs from the one recorded on the host
    is not kept, and the task fails naming it.
  - Writes C(collection.json) for the host and one custody line per step, for the selection and for the fetch.
  - Used by the C(acquire) role; rarely called directly.
author:
  - dfir.docker contributors
options:
  evidence_dir:
    description: The staging directory on the host.
    type: str
    required: true
  case_dir:
    description: The case directory on the controller, made by M(dfir.docker.case_open).
    type: path
    required: true
  examiner:
    description: Who acquires the evidence, written into the custody log.
    type: str
    required: true
  steps:
    description: The registered results of the collecting modules, by step name.
    type: dict
    default: {}
  host_failure:
    description: Why the host failed before or during collection, if it did.
    type: str
  selected:
    description: The container ids selected on this host.
    type: list
    elements: str
attributes:
  check_mode:
    support: full
    description: Counts the artifacts it would fetch and fetches nothing.
'''

EXAMPLES = r'''
- name: Fetch the artifacts of this host
  dfir.docker.evidence_fetch:
    evidence_dir: /var/tmp/dfir-docker/IR-42
    case_dir: "{{ dfir_case.case_dir }}"
    examiner: jdoe
    steps:
      engine_facts: "{{ dfir_engine }}"
      container_inspect: "{{ dfir_inspect }}"
'''

RETURN = r'''
host_dir:
  description: Where the host's artifacts are in the case.
  returned: success
  type: str
fetched:
  description: Number of artifacts fetched and checked.
  returned: success
  type: int
bytes:
  description: Bytes fetched.
  returned: success
  type: int
problems:
  description: Artifacts that failed the transfer check, one message each.
  returned: success
  type: list
  elements: str
'''
