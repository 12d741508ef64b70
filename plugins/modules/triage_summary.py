#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: dfir.docker contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: triage_summary
short_description: Summarize a triaged case in triage.json, one row per container, before it is sealed
version_added: 0.1.0
description:
  - Runs on the controller only (an action plugin); touches no host.
  - Reads back what the case holds for each host (C(engine.json), and for each selected container
    C(processes.json) and C(changes.json)) and writes C(triage.json) at the top of the case. Every number
    comes from those artifacts, so the summary can be recomputed from the sealed evidence.
  - Each container gets its state, process count, effective users, the counts of paths it added, changed
    and deleted, and signals worth a closer look (privileged, host namespaces, a process whose executable
    was deleted, daemon and disk disagreeing). Containers with signals come first, then the most changed.
  - Run it after M(dfir.docker.evidence_fetch) and before M(dfir.docker.case_seal), so that the summary is
    sealed and signed with the rest. The C(triage) role does.
attributes:
  action:
    support: full
    description: Runs on the controller as an action plugin.
  check_mode:
    support: full
    description: Computes the summary and writes nothing.
options:
  case_dir:
    description: The case directory, fetched and not yet sealed.
    type: path
    required: true
  case_id:
    description: The case id.
    type: str
    required: true
  examiner:
    description: Who runs the triage; written into the custody log.
    type: str
    required: true
  hosts:
    description: Every host of the run; one without a collection is listed as failed.
    type: list
    elements: str
    default: []
  host_failures:
    description: Why hosts failed, by host name.
    type: dict
    default: {}
  show:
    description: How many containers the returned RV(table) lists (all of them are in C(triage.json)).
    type: int
    default: 20
author:
  - dfir.docker maintainers (@dfir-docker)
'''

EXAMPLES = r'''
- name: Summarize the triage
  dfir.docker.triage_summary:
    case_dir: "{{ case.case_dir }}"
    case_id: "{{ case.case_id }}"
    examiner: Jane Doe
    hosts: "{{ ansible_play_hosts_all }}"
  run_once: true
  register: triage

- name: Show it
  ansible.builtin.debug:
    msg: "{{ triage.table }}"
  run_once: true
'''

RETURN = r'''
path:
  description: Path of triage.json.
  returned: success, not in check mode
  type: str
totals:
  description: Counts of hosts, failed hosts, containers, running containers, containers with signals, and changed paths.
  returned: success
  type: dict
hosts:
  description: One entry per host with its status, reason, engine, and container counts.
  returned: success
  type: list
  elements: dict
table:
  description: The summary as text lines, a line per host, then the selected containers most worth a look.
  returned: success
  type: list
  elements: str
'''
