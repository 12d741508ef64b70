"""The progress lines of a long step, as the examiner reads them."""

from ansible_collections.dfir.docker.plugins.action.step_progress import human_size, progress_line, short_path

CONTAINER = 'f' * 64


def test_sizes_read_in_binary_units():
    assert [human_size(size) for size in (0, 1023, 1024, 5 << 20, 3 << 30, 5000 << 30)] == [
        '0 B', '1023 B', '1.0 KiB', '5.0 MiB', '3.0 GiB', '5000.0 GiB']


def test_a_partial_artifact_is_named_by_its_short_container_id_without_the_suffix():
    assert short_path('containers/%s/memory/42.core.partial' % CONTAINER) == 'ffffffffffff/memory/42.core'
    assert short_path('engine.json') == 'engine.json'


def test_a_reading_gives_time_bytes_rate_and_what_is_being_written():
    usage = {'bytes': 30 << 20, 'files': 4,
             'partial': [{'path': 'containers/%s/memory/7.core.partial' % CONTAINER, 'size': 20 << 20}]}
    line = progress_line('docker1', 'memory dump', 65.2, usage, previous=(60.2, 10 << 20))
    assert line == ('docker1: memory dump running 1m05s, 30.0 MiB written so far (4.0 MiB/s), 4 artifact(s) complete, '
                    'writing ffffffffffff/memory/7.core (20.0 MiB)')
    assert progress_line('h', 'export', 0, {'bytes': 0, 'files': 0, 'partial': []}, None) == (
        'h: export running 0m00s, 0 B written so far, 0 artifact(s) complete')
