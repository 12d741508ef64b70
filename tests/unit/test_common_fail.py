"""DfirModule's way out: a failure, expected or not, still returns every artifact finished before it."""

import json
import os

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.dfir.docker.plugins.module_utils._common import DfirModule, evidence_argument_spec


def run_body(body, evidence_dir, capsys):
    """Run `body` as a module would, with the real AnsibleModule; return the JSON result it printed."""
    with patch_module_args({'evidence_dir': evidence_dir}):
        dfir = DfirModule(evidence_argument_spec())
        with pytest.raises(SystemExit):
            dfir.run(body)
    return json.loads(capsys.readouterr().out)


def test_an_unexpected_error_returns_the_finished_artifacts_and_not_the_one_being_written(tmp_path, capsys):
    staging = str(tmp_path / 'staging')

    def body(dfir):
        evidence = dfir.open_evidence()
        evidence.write_bytes('containers/a/inspect.json', b'{}\n', 'container_inspect', 'a')
        with evidence.artifact('containers/b/inspect.json', 'container_inspect', 'b') as writer:
            writer.write(b'{"half": ')
            raise RuntimeError('something nobody expected')

    result = run_body(body, staging, capsys)
    assert result['failed'] and 'unexpected error: RuntimeError: something nobody expected' in result['msg']
    assert [item['path'] for item in result['artifacts']] == ['containers/a/inspect.json']
    assert os.path.isfile(os.path.join(staging, 'containers/a/inspect.json'))
    assert os.listdir(os.path.join(staging, 'containers/b')) == [], 'a partial artifact was left behind'


def test_a_deliberate_failure_returns_the_finished_artifacts_too(tmp_path, capsys):
    def body(dfir):
        dfir.open_evidence().write_bytes('engine.json', b'{}\n', 'engine_facts')
        dfir.fail('the memory dumps would not fit')

    result = run_body(body, str(tmp_path / 'staging'), capsys)
    assert result['failed'] and result['msg'] == 'the memory dumps would not fit'
    assert [item['path'] for item in result['artifacts']] == ['engine.json']
