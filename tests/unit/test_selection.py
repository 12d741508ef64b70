"""Turning what a responder typed into container ids: Docker's own rules, and the controller-side filter."""

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.dfir.docker.plugins.filter.select_containers import select_containers
from ansible_collections.dfir.docker.plugins.module_utils._selection import SelectionError, resolve, resolve_one

A = 'a1' + '0' * 62
B = 'a2' + '1' * 62
C = 'c3' + '2' * 62
# A container whose name looks like the id prefix of another: the name wins, as in Docker.
D = 'd4' + '3' * 62
CONTAINERS = [(A, 'web'), (B, 'db'), (C, 'a2'), (D, None)]


@pytest.mark.parametrize('reference, expected', [
    (A, A),                 # a full id
    ('web', A),             # a name
    ('/web', A),            # a name as Docker stores it
    ('c3', C),              # a unique prefix
    ('C3', C),              # prefixes are hex: case does not matter
    ('a2', C),              # an exact name beats an id prefix
    ('a1', A),
    ('d4' + '3' * 10, D),   # a container without a name, by prefix
])
def test_a_reference_names_one_container(reference, expected):
    assert resolve_one(reference, CONTAINERS) == expected


def test_an_ambiguous_prefix_is_an_error_listing_every_match():
    with pytest.raises(SelectionError) as caught:
        resolve_one('a', CONTAINERS)
    assert caught.value.matches == [A, B]
    assert A[:12] in str(caught.value) and B[:12] in str(caught.value)
    assert 'web' in str(caught.value) and 'db' in str(caught.value)


@pytest.mark.parametrize('reference', ['nosuch', 'e', '', '   '])
def test_a_reference_that_names_nothing_is_an_error_naming_it(reference):
    with pytest.raises(SelectionError) as caught:
        resolve_one(reference, CONTAINERS)
    assert caught.value.requested == reference
    if reference.strip():
        assert repr(reference) in str(caught.value)


def test_resolve_keeps_request_order_drops_repeats_and_reports_each_bad_reference():
    ids, errors = resolve(['db', 'nosuch', 'web', B, 'a'], CONTAINERS)
    assert ids == [B, A]
    assert [error.requested for error in errors] == ['nosuch', 'a']


def test_resolve_with_nothing_requested_means_every_container():
    assert resolve([], CONTAINERS) == ([A, B, C, D], [])


FACTS = [
    {'id': A, 'name': 'web', 'running': True, 'labels': {'tier': 'front'}, 'image': 'nginx:1'},
    {'id': B, 'name': 'db', 'running': False, 'labels': {'tier': 'back'}, 'image': 'postgres:16'},
    {'id': C, 'name': 'a2', 'running': True, 'labels': {}, 'image': 'busybox'},
]


def test_filter_without_query_or_refs_selects_every_container_in_inventory_order():
    assert select_containers(FACTS) == [A, B, C]


def test_filter_query_may_return_objects_or_ids():
    assert select_containers(FACTS, query='[?running]') == [A, C]
    assert select_containers(FACTS, query='[?running].id') == [A, C]
    assert select_containers(FACTS, query="[?labels.tier == 'back']") == [B]


def test_filter_query_that_matches_nothing_selects_nothing_not_everything():
    assert select_containers(FACTS, query="[?image == 'redis']") == []


def test_filter_query_and_refs_select_what_both_select_and_keep_unknown_refs_for_the_module_to_report():
    assert select_containers(FACTS, query='[?running]', refs=['web', 'db', 'ghost']) == [A, 'ghost']


def test_filter_rejects_a_broken_query_with_the_reason():
    with pytest.raises(AnsibleFilterError, match='not a valid JMESPath'):
        select_containers(FACTS, query='[?running')


def test_filter_rejects_input_that_is_not_the_containers_list():
    with pytest.raises(AnsibleFilterError):
        select_containers({'containers': FACTS})


def test_filter_query_may_return_names_or_id_prefixes_as_well():
    assert select_containers(FACTS, query='[].name') == [A, B, C]
    assert select_containers(FACTS, query='[?running].name') == [A, C]
    assert select_containers(FACTS, query="[?name == 'db'].id | [0]") == [B]
    assert select_containers(FACTS, query='[?running].id') == [A, C]


@pytest.mark.parametrize('query, named', [
    ('[].image', "no container has the id, id prefix or name 'nginx:1'"),
    ('[].running', 'true is not a container, an id or a name'),
    ('[].{n: name}', '{"n": "web"} is not a container, an id or a name'),
])
def test_filter_query_that_returns_what_names_no_container_says_so_instead_of_dropping_it(query, named):
    with pytest.raises(AnsibleFilterError) as caught:
        select_containers(FACTS, query=query)
    assert ("dfir_select %r returned 3 item(s) that name no container of this host: " % query) in str(caught.value)
    assert named in str(caught.value)
    assert 'or their ids, unique id prefixes or names' in str(caught.value)
    report = select_containers(FACTS, query=query, report=True)
    assert report['containers'] == [] and report['error'] == str(caught.value)


def test_filter_query_that_fails_on_the_data_says_so_plainly():
    query = '[?contains(labels, `1`)]'
    with pytest.raises(AnsibleFilterError) as caught:
        select_containers(FACTS, query=query)
    message = str(caught.value)
    assert message.startswith("dfir_select failed on this host's containers: In function contains(), invalid type")
    assert "the expression %r parses" % query in message
    assert select_containers(FACTS, query=query, report=True)['error'] == message


def test_filter_report_gives_the_selection_and_no_error():
    assert select_containers(FACTS, query='[?running]', refs=['web', 'ghost'], report=True) == {
        'containers': [A, 'ghost'], 'error': None}


def test_an_unknown_reference_lists_the_containers_there_are_by_name_and_short_id():
    with pytest.raises(SelectionError) as caught:
        resolve_one('nosuch', CONTAINERS)
    assert str(caught.value) == ("no container has the id, id prefix or name 'nosuch'; the containers are: "
                                 "a2 (%s), db (%s), web (%s), no name (%s)" % (C[:12], B[:12], A[:12], D[:12]))
    assert caught.value.short == "no container has the id, id prefix or name 'nosuch'"


def test_the_list_of_candidates_is_capped():
    many = [('%02x' % index + '0' * 62, 'c%02d' % index) for index in range(25)]
    with pytest.raises(SelectionError) as caught:
        resolve_one('nosuch', many)
    assert str(caught.value).endswith('c19 (130000000000) and 5 more')
    assert 'c20' not in str(caught.value)
