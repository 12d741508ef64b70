# -*- coding: utf-8 -*-
# Copyright: dfir.docker contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
name: select_containers
short_description: Choose containers from engine_facts by JMESPath query, id, prefix or name
version_added: 0.1.0
description:
  - Takes the C(containers) list that M(dfir.docker.engine_facts) returns and gives the container
    references to hand to the collecting modules.
  - With O(query), the containers the JMESPath expression selects (it may return container objects
    or ids). With O(refs), the containers those ids, id prefixes or names name. With both, the containers
    both select. With neither, every container.
  - A reference that names no container is kept as it is, so the collecting module reports it as an error
    instead of it vanishing silently.
  - The result is never empty by accident of meaning "all"; an empty list means nothing was selected.
options:
  _input:
    description: The C(containers) list of M(dfir.docker.engine_facts).
    type: list
    elements: dict
    required: true
  query:
    description: A JMESPath expression over that list, for example C([?running && contains(image, 'nginx')]).
    type: str
  refs:
    description: Container ids, unique id prefixes or names.
    type: list
    elements: str
    default: []
requirements:
  - jmespath (on the controller) when O(query) is used
'''

EXAMPLES = r'''
- name: Running nginx containers
  ansible.builtin.set_fact:
    targets: "{{ facts.containers | dfir.docker.select_containers(query=\"[?running && contains(image, 'nginx')]\") }}"

- name: Containers labelled for the incident
  ansible.builtin.set_fact:
    targets: "{{ facts.containers | dfir.docker.select_containers(query=\"[?labels.\\\"com.example.tier\\\" == 'web']\") }}"
'''

RETURN = r'''
_value:
  description: Full container ids, plus any reference that named no container, in a stable order.
  type: list
  elements: str
'''

from ansible.errors import AnsibleFilterError

from ansible_collections.dfir.docker.plugins.module_utils._selection import SelectionError, resolve_one
from ansible_collections.dfir.docker.plugins.plugin_utils._query import QueryError, search


def select_containers(containers, query=None, refs=None):
    if not isinstance(containers, list):
        raise AnsibleFilterError('select_containers expects the containers list of dfir.docker.engine_facts')
    pairs = [(item.get('id'), item.get('name')) for item in containers if isinstance(item, dict) and item.get('id')]
    chosen = [container_id for container_id, _name in pairs]
    if query:
        try:
            picked = search(query, containers)
        except QueryError as exc:
            raise AnsibleFilterError(str(exc))
        chosen = [container_id for container_id in chosen if container_id in picked]
    unresolved = []
    if refs:
        named = set()
        for ref in refs:
            try:
                named.add(resolve_one(ref, pairs))
            except SelectionError:
                unresolved.append(ref)
        chosen = [container_id for container_id in chosen if container_id in named]
    return chosen + unresolved


class FilterModule(object):

    def filters(self):
        return {'select_containers': select_containers}
