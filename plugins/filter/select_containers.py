# -*- coding: utf-8 -*-
# Copyright: dfir.docker contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# Documentation: select_containers.yml beside this file.

from ansible.errors import AnsibleFilterError

from ansible_collections.dfir.docker.plugins.module_utils._selection import SelectionError, resolve_one
from ansible_collections.dfir.docker.plugins.plugin_utils._query import QueryError, search, unmatched_message


def _select(containers, query, refs):
    """(chosen references, error message or None)."""
    pairs = [(item.get('id'), item.get('name')) for item in containers if isinstance(item, dict) and item.get('id')]
    chosen = [container_id for container_id, _name in pairs]
    if query:
        try:
            picked, unmatched = search(query, containers)
        except QueryError as exc:
            return [], str(exc)
        if unmatched:
            return [], unmatched_message(query, unmatched)
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
    return chosen + unresolved, None


def select_containers(containers, query=None, refs=None, report=False):
    if not isinstance(containers, list):
        raise AnsibleFilterError('select_containers expects the containers list of dfir.docker.engine_facts')
    chosen, error = _select(containers, query, refs)
    if report:
        return {'containers': chosen, 'error': error}
    if error:
        raise AnsibleFilterError(error)
    return chosen


class FilterModule(object):

    def filters(self):
        return {'select_containers': select_containers}
