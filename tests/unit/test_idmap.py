"""Id maps: uid_map/gid_map lines and subordinate id ranges, looked up both ways."""

import pytest

from ansible_collections.dfir.docker.plugins.module_utils._idmap import (
    IdMapError,
    both_ways,
    parse_id_map,
    parse_subid,
    remap_id_map,
    subid_ranges,
    to_inside,
    to_outside,
)

REMAPPED = '         0     100000      65536\n'
TWO_RANGES = '0 1000 1\n1 100000 65536\n'


def test_a_remap_line_parses_to_one_range():
    assert parse_id_map(REMAPPED) == [{'inside': 0, 'outside': 100000, 'count': 65536}]


def test_container_root_is_the_first_id_of_the_range_and_back():
    ranges = parse_id_map(REMAPPED)
    assert to_outside(0, ranges) == 100000
    assert to_outside(1001, ranges) == 101001
    assert to_inside(101001, ranges) == 1001
    assert to_inside(100000, ranges) == 0


def test_ids_outside_every_range_are_unmapped_not_overflow():
    ranges = parse_id_map(REMAPPED)
    assert to_outside(65536, ranges) is None
    assert to_inside(0, ranges) is None
    assert to_inside(99999, ranges) is None
    assert to_inside(165536, ranges) is None


def test_a_rootless_map_with_two_ranges_maps_through_the_right_one():
    ranges = parse_id_map(TWO_RANGES)
    assert to_outside(0, ranges) == 1000
    assert to_outside(1, ranges) == 100000
    assert to_outside(1001, ranges) == 101000
    assert to_inside(1000, ranges) == 0
    assert to_inside(101000, ranges) == 1001
    assert both_ways(1000, ranges) == {'id': 1000, 'inside_to_host': 100999, 'host_to_inside': 0}


def test_the_host_map_is_the_identity():
    ranges = parse_id_map('0 0 4294967295\n')
    assert both_ways(4242, ranges) == {'id': 4242, 'inside_to_host': 4242, 'host_to_inside': 4242}


@pytest.mark.parametrize('text', ['0 100000\n', '0 x 1\n'])
def test_a_broken_map_is_an_error_that_names_the_line(text):
    with pytest.raises(IdMapError, match='line 1'):
        parse_id_map(text)


def test_subid_files_keep_order_skip_comments_and_report_bad_lines():
    entries, problems = parse_subid('# comment\ndockremap:100000:65536\nbroken line\nalice:x:1\n'
                                    'dockremap:300000:10\n1001:165536:65536\n')
    assert [entry['name'] for entry in entries] == ['dockremap', 'dockremap', '1001']
    assert len(problems) == 2 and 'line 3' in problems[0] and 'line 4' in problems[1]
    name, ranges = subid_ranges(entries, ['nobody', 'dockremap'])
    assert name == 'dockremap' and [item['start'] for item in ranges] == [100000, 300000]
    assert subid_ranges(entries, ['app', '1001'])[0] == '1001'


def test_docker_runs_container_ids_on_through_several_subordinate_ranges():
    entries, _problems = parse_subid('dockremap:100000:65536\ndockremap:300000:10\n')
    mapping = remap_id_map(entries)
    assert mapping == [{'inside': 0, 'outside': 100000, 'count': 65536},
                       {'inside': 65536, 'outside': 300000, 'count': 10}]
    assert to_outside(65537, mapping) == 300001
    assert to_inside(300009, mapping) == 65545
