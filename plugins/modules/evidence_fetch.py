#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: dfir.docker contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: evidence_fetch
short_description: Bring a host's artifacts into the case, hash them again, and log custody
version_added: 0.1.0
description:
  - An action plugin that runs on the controller for each host.
  - Takes the results of the collecting steps (engine_facts, container_inspect, ...), and for every
    artifact they recorded, streams the file from the host's staging directory into
    C(hosts/<inventory_hostname>/) of the case with the connection's own file transfer (SFTP or SCP over
    SSH, a copy for a local connection), hashes it on the controller and compares with the SHA-256
    computed at the source. A file that differs is not kept and is reported; the case cannot then be sealed.
  - Files are never read into memory. To let the transfer run without privilege escalation, the staging
    directory is first handed over to the login account with M(dfir.docker.staging) (C(state=handover)).
  - Writes C(hosts/<inventory_hostname>/collection.json) (steps, artifacts with both hashes, problems,
    what became of the staging directory) and one custody line per step and for the transfer.
  - Then, with O(remove_staging), removes from the host only the artifacts that are now in the case with
    the hash the host computed (M(dfir.docker.staging) C(state=absent) with C(only)). Anything else left in
    the staging directory (artifacts that no step reported, or that did not arrive whole) is kept, and so is
    the directory. The task then fails, naming the directory and how many files are left there, and the
    host is C(partial) in the sealed case. A custody line records the creation of the staging directory
    (from O(staging)) and what was removed or kept, by whom (the controller's user, the login user and
    the account on the host) and when.
author:
  - dfir.docker maintainers (@dfir-docker)
options:
  evidence_dir:
    description: The staging directory on the host.
    type: str
    required: true
  case_dir:
    description: The case directory on the controller (from M(dfir.docker.case_open)).
    type: path
    required: true
  examiner:
    description: Who acquires the evidence.
    type: str
    required: true
  steps:
    description: Registered results of the collecting modules, by step name.
    type: dict
    default: {}
  host_failure:
    description: Why this host's collection stopped early, if it did.
    type: str
  selected:
    description: The containers selected on this host, for the custody log.
    type: list
    elements: str
  staging:
    description:
      - The registered result of the M(dfir.docker.staging) task (C(state=present)) that made the staging
        directory, for the custody log (path, when it was made, as which account on the host).
    type: dict
  remove_staging:
    description:
      - Remove from the host what was fetched into the case with the same hash, and the staging directory
        when nothing else is left in it.
      - When false, everything is left on the host, and the custody log says so.
    type: bool
    default: false
attributes:
  action:
    support: full
    description: Runs on the controller as an action plugin.
  check_mode:
    support: full
    description: Fetches nothing.
'''

EXAMPLES = r'''
- name: Fetch the artifacts
  dfir.docker.evidence_fetch:
    evidence_dir: /var/tmp/dfir-docker/IR-42
    case_dir: "{{ case.case_dir }}"
    examiner: Jane Doe
    steps:
      engine_facts: "{{ engine }}"
      container_logs: "{{ logs }}"
    remove_staging: true
'''

RETURN = r'''
host_dir:
  description: The host's directory in the case.
  returned: success
  type: str
fetched:
  description: Number of artifacts fetched and verified.
  returned: success
  type: int
bytes:
  description: Bytes fetched.
  returned: success
  type: int
problems:
  description: Artifacts that failed the transfer or the hash comparison.
  returned: always
  type: list
  elements: str
staging:
  description:
    - What became of the staging directory on the host, as in C(collection.json) - C(state) (C(removed) or
      C(kept)), C(reason) when kept, C(problem) when what is kept is evidence that is not in the case,
      C(removed_files), C(removed_bytes), C(left_files), C(left_bytes) and C(left) (at most 100 names).
  returned: success
  type: dict
'''
