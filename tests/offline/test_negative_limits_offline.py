"""A negative size or count limit is bad input: refused by name, before anything is read or written.

Before, -1 (a common way to write "no limit") was taken literally: merged_max_bytes=-1 skipped the merged
view, paths_max_bytes=-1 and recover_max_bytes=-1 left every file out, and the run reported success.
"""

import os

import pytest

from tests.support.ansible_run import run_module

CASES = [
    ('container_export', {'mode': ['merged'], 'merged_max_bytes': -1}, 'merged_max_bytes'),
    ('container_export', {'mode': ['paths'], 'paths': ['/etc'], 'paths_max_bytes': -1}, 'paths_max_bytes'),
    ('whiteouts', {'recover': True, 'recover_max_bytes': -1}, 'recover_max_bytes'),
    ('whiteouts', {'result_entries': -5}, 'result_entries'),
    ('container_changes', {'result_entries': -1}, 'result_entries'),
]


@pytest.mark.parametrize('check_mode', [False, True], ids=['run', 'check'])
@pytest.mark.parametrize('module,options,option', CASES, ids=['%s-%s' % (case[0], case[2]) for case in CASES])
def test_a_negative_limit_is_refused_by_name(shared_roots, tmp_path, module, options, option, check_mode):
    staging = str(tmp_path / 'staging')
    args = {'source': 'disk', 'docker_root': shared_roots['overlay2.v2'], 'evidence_dir': staging}
    args.update(options)
    result = run_module(module, args, check_mode=check_mode)
    assert result['failed']
    assert option in result['msg'] and str(options[option]) in result['msg'] and 'Traceback' not in result['msg']
    assert result.get('artifacts', []) == []
    assert not os.path.exists(staging), 'nothing is written for bad input'


@pytest.mark.parametrize('paths', [[''], ['/etc', '  ']], ids=['empty', 'blank-second'])
def test_an_empty_paths_entry_is_refused_not_taken_for_the_whole_root(shared_roots, tmp_path, paths):
    staging = str(tmp_path / 'staging')
    result = run_module('container_export', {'source': 'disk', 'docker_root': shared_roots['overlay2.v2'],
                                             'evidence_dir': staging, 'mode': 'paths', 'paths': paths})
    assert result['failed'] and 'paths entry #%d is empty' % len(paths) in result['msg'], result['msg']
    assert result.get('artifacts', []) == [] and not os.path.exists(staging)
