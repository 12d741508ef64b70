#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: dfir.docker contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: step_progress
short_description: Follow a long step started in the background, showing how much it has written so far
version_added: 0.1.0
description:
  - "An action plugin. Give it the registered result of a step started with C(async) and C(poll: 0)
    (a memory dump, a filesystem export); it waits for the step to finish and returns the step's own
    result, as if the step had run in the foreground."
  - Every O(interval) seconds while the step runs, it prints a line with the time so far, the bytes in
    the staging directory (complete artifacts and those being written, by name), and the rate, so the
    examiner sees the step is moving.
  - It reads sizes in the staging directory through M(dfir.docker.staging) (V(usage)); it never opens
    an artifact.
  - A step that was skipped, failed to start, or ran in the foreground (check mode) is returned as it is.
  - The C(acquire) role runs its long steps this way; the number of tasks does not depend on the
    number of containers.
options:
  job:
    description: "The registered result of the step started with C(async) and C(poll: 0)."
    type: dict
    required: true
  evidence_dir:
    description: The staging directory the step writes into; without it only the time is shown.
    type: str
  what:
    description: What the step does, for the progress lines (for example C(memory dump)).
    type: str
    default: step
  interval:
    description: Seconds between readings.
    type: int
    default: 10
attributes:
  action:
    support: full
    description: Runs on the controller as an action plugin, and polls the host.
  check_mode:
    support: full
    description: Steps run in the foreground in check mode; their result is returned as it is.
notes:
  - Give the step an C(async) time limit longer than it can take; Ansible stops a step that exceeds it.
author:
  - dfir.docker maintainers (@dfir-docker)
'''

EXAMPLES = r'''
- name: Dump the memory of the web container (in the background)
  dfir.docker.process_memory:
    containers: [web]
    evidence_dir: /var/tmp/dfir/case-42
  async: 21600
  poll: 0
  register: memory_job
  become: true

- name: Wait for the memory dump, showing what it has written
  dfir.docker.step_progress:
    job: "{{ memory_job }}"
    evidence_dir: /var/tmp/dfir/case-42
    what: memory dump
  register: memory
  become: true
'''

RETURN = r'''
msg:
  description: The step's own result is returned, whatever it holds (artifacts, errors, containers, ...).
  returned: always
  type: str
'''
