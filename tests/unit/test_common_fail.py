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


def test_a_symlink_planted_after_the_docker_root_check_is_not_followed_into_the_root(tmp_path, capsys, monkeypatch):
    """Between the Docker-root check and the creation of the staging dir, someone who can write its parent
    puts a symlink to the root where the staging dir's first missing component goes. The dir is created
    along the path that was checked, following no symlink, so nothing is written into the root."""
    from ansible_collections.dfir.docker.plugins.module_utils import _common
    root = tmp_path / 'docker'
    (root / 'containers').mkdir(parents=True)
    planted = tmp_path / 'stage'
    checked = _common.refuse_inside_docker_root

    def check_then_plant(path, roots, *args, **kwargs):
        answer = checked(path, roots, *args, **kwargs)
        os.symlink(str(root), str(planted))   # the race won right after the check
        return answer

    monkeypatch.setattr(_common, 'refuse_inside_docker_root', check_then_plant)

    def body(dfir):
        dfir.open_evidence().write_bytes('engine.json', b'{}\n', 'engine_facts')
        dfir.module.exit_json(changed=True)

    with patch_module_args({'evidence_dir': str(planted / 'IR-1'), 'docker_root': str(root)}):
        dfir = DfirModule(dict(evidence_argument_spec(), docker_root=dict(type='path')))
        with pytest.raises(SystemExit):
            dfir.run(body)
    result = json.loads(capsys.readouterr().out)
    assert sorted(os.listdir(str(root))) == ['containers'], 'the staging dir was made inside the Docker root'
    assert result.get('failed') and 'symlink' in result['msg'], result


def test_the_staging_module_does_not_follow_a_symlink_planted_after_its_check_either(tmp_path, capsys, monkeypatch):
    """As above, for the staging module, which the roles run first: the staging dir's parent is missing and
    becomes a symlink to the root right after the check."""
    from ansible_collections.dfir.docker.plugins.modules import staging
    root = tmp_path / 'docker'
    (root / 'containers').mkdir(parents=True)
    path = tmp_path / 'stage' / 'IR-1'
    checked = staging.refuse_inside_docker_root

    def check_then_plant(where, roots, *args, **kwargs):
        answer = checked(where, roots, *args, **kwargs)
        os.symlink(str(root), str(path.parent))   # the race won right after the check
        return answer

    monkeypatch.setattr(staging, 'refuse_inside_docker_root', check_then_plant)
    with patch_module_args({'path': str(path), 'case_id': 'IR-1', 'docker_root': str(root), 'docker_host': ''}):
        with pytest.raises(SystemExit):
            staging.main()
    result = json.loads(capsys.readouterr().out)
    assert sorted(os.listdir(str(root))) == ['containers'], 'the staging module wrote into the Docker root'
    assert result.get('failed'), result
