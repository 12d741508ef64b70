"""Pure parts of the Docker root model: state words, chain ids, where logs are."""

import hashlib
import os

import pytest

from ansible_collections.dfir.docker.plugins.module_utils._docker_root import chain_ids, state_string
from ansible_collections.dfir.docker.plugins.module_utils._logs import log_files, where_logs_went

ZERO = '0001-01-01T00:00:00Z'
STARTED = '2026-01-02T03:04:05.123456789Z'


@pytest.mark.parametrize('state, expected', [
    ({'Running': True, 'StartedAt': STARTED}, 'running'),
    ({'Running': True, 'Paused': True, 'StartedAt': STARTED}, 'paused'),
    ({'Running': True, 'Restarting': True, 'StartedAt': STARTED}, 'restarting'),
    # paused wins over restarting, as in Docker's State.StateString
    ({'Running': True, 'Paused': True, 'Restarting': True, 'StartedAt': STARTED}, 'paused'),
    # a removal cut short: dockerd restores such a container as dead (never as removing)
    ({'Running': False, 'RemovalInProgress': True, 'StartedAt': STARTED}, 'dead'),
    ({'Running': False, 'RemovalInProgress': True, 'Dead': True, 'StartedAt': STARTED}, 'dead'),
    ({'Running': False, 'Dead': True, 'StartedAt': STARTED}, 'dead'),
    ({'Running': False, 'Dead': True, 'StartedAt': ZERO}, 'dead'),
    ({'Running': False, 'StartedAt': ZERO}, 'created'),
    ({'Running': False}, 'created'),
    ({'Running': False, 'StartedAt': STARTED, 'ExitCode': 3}, 'exited'),
    # Paused without Running is not "paused": the process is gone
    ({'Running': False, 'Paused': True, 'StartedAt': STARTED}, 'exited'),
])
def test_state_string_follows_dockers_rules(state, expected):
    assert state_string(state) == expected


def test_chain_ids_of_one_layer_is_its_diff_id():
    assert chain_ids(['sha256:' + 'a' * 64]) == ['sha256:' + 'a' * 64]
    assert chain_ids([]) == []


def test_chain_ids_follow_the_oci_definition():
    # ChainID(L0) = DiffID(L0); ChainID(Ln) = SHA256(ChainID(Ln-1) + " " + DiffID(Ln)), written out here.
    diffs = ['sha256:' + c * 64 for c in 'abc']
    second = 'sha256:' + hashlib.sha256(('%s %s' % (diffs[0], diffs[1])).encode()).hexdigest()
    third = 'sha256:' + hashlib.sha256(('%s %s' % (second, diffs[2])).encode()).hexdigest()
    assert chain_ids(diffs) == [diffs[0], second, third]


def test_chain_ids_match_the_layer_database_of_the_shared_overlay2_root(shared_roots):
    """Every layer Docker recorded: its directory name is the chain id of its parent's chain plus its diff id."""
    layerdb = os.path.join(shared_roots['overlay2.v2'], 'image', 'overlay2', 'layerdb', 'sha256')
    checked = 0
    for name in os.listdir(layerdb):
        with open(os.path.join(layerdb, name, 'diff')) as handle:
            diff_id = handle.read().strip()
        parent_path = os.path.join(layerdb, name, 'parent')
        parent_chain = []
        if os.path.exists(parent_path):
            with open(parent_path) as handle:
                parent_chain = [handle.read().strip()]
        if parent_chain:
            # chain_ids of [parent chain id, diff id] composes exactly one step
            assert chain_ids(parent_chain + [diff_id])[-1] == 'sha256:' + name
        else:
            assert chain_ids([diff_id]) == ['sha256:' + name]
        checked += 1
    assert checked >= 1


CID = 'f' * 64


def touch(path, data=b'x'):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'wb') as handle:
        handle.write(data)


def test_log_files_are_live_first_then_older_rotations_by_number(tmp_path):
    base = str(tmp_path / CID)
    log = '%s/%s-json.log' % (base, CID)
    # created in a shuffled order; .10 must come after .9, not after .1
    for suffix in ('.2.gz', '', '.10.gz', '.1', '.9.gz', '.3'):
        touch(log + suffix)
    # not logs of this container, or not log names at all
    for other in ('%s-json.log' % ('e' * 64), '%s-json.log.gz' % CID, '%s-json.log.1.gz.tmp' % CID,
                  '%s-json.logx' % CID, 'config.v2.json'):
        touch(os.path.join(base, other))
    os.symlink('/etc/passwd', log + '.4')          # never followed, never listed
    found = log_files(base, CID, log)
    assert [item['name'][len(CID):] for item in found] == [
        '-json.log', '-json.log.1', '-json.log.2.gz', '-json.log.3', '-json.log.9.gz', '-json.log.10.gz']
    assert [item['rotation'] for item in found] == [0, 1, 2, 3, 9, 10]
    assert [item['compressed'] for item in found] == [False, False, True, False, True, True]
    assert all(item['kind'] == 'container_log' for item in found)


def test_log_files_of_the_local_driver_and_the_dual_logging_cache(tmp_path):
    base = str(tmp_path / CID)
    touch(os.path.join(base, 'local-logs', 'container.log.1.gz'))
    touch(os.path.join(base, 'local-logs', 'container.log'))
    touch(os.path.join(base, 'container-cached.log'))
    found = log_files(base, CID)
    assert [(item['kind'], item['name'], item['rotation']) for item in found] == [
        ('container_log_local', 'container.log', 0),
        ('container_log_local', 'container.log.1.gz', 1),
        ('container_log_cache', 'container-cached.log', 0),
    ]


def test_log_files_follow_a_log_path_outside_the_container_dir(tmp_path):
    elsewhere = str(tmp_path / 'logs' / ('%s-json.log' % CID))
    touch(elsewhere)
    found = log_files(str(tmp_path / CID), CID, elsewhere)
    assert [item['path'] for item in found] == [elsewhere]


@pytest.mark.parametrize('driver', ['none', 'journald', 'syslog', 'gelf', 'fluentd', 'awslogs', 'splunk', 'my-plugin'])
def test_drivers_that_keep_nothing_on_disk_say_where_the_log_went(driver):
    sentence = where_logs_went(driver)
    assert sentence
    if driver == 'my-plugin':
        assert driver in sentence


@pytest.mark.parametrize('driver', ['json-file', 'local', None])
def test_file_drivers_are_not_reported_as_elsewhere(driver):
    assert where_logs_went(driver) is None


# -- state and shapes of real configs ---------------------------------------------------------------------


def real_root(shared_roots, tmp_path):
    """A private copy of the shared overlay2 root's containers/ (the tests change its configs)."""
    import shutil
    root = tmp_path / 'docker'
    shutil.copytree(os.path.join(shared_roots['overlay2.v2'], 'containers'), str(root / 'containers'), symlinks=True)
    (root / 'image').mkdir()
    return root


def rewrite(root, container_id, change, name='config.v2.json'):
    import json
    path = root / 'containers' / container_id / name
    document = json.loads(path.read_text())
    change(document)
    path.write_text(json.dumps(document))
    return str(path)


@pytest.mark.parametrize('flags, expected', [
    ({'Dead': True}, 'dead'),
    ({'Dead': True, 'RemovalInProgress': True}, 'dead'),   # what dockerd saves while it removes a container
    ({'RemovalInProgress': True}, 'dead'),
    ({'Running': True, 'Paused': True, 'Dead': False}, 'paused'),
])
def test_a_real_config_with_the_flags_set_reads_as_dockerd_reports_it(shared_roots, tmp_path, flags, expected):
    from ansible_collections.dfir.docker.plugins.module_utils._docker_root import DockerRoot
    root = real_root(shared_roots, tmp_path)
    container_id = sorted(os.listdir(str(root / 'containers')))[0]

    def set_flags(document):
        document['State'].update(dict(Running=False, Paused=False, Restarting=False, Dead=False,
                                      RemovalInProgress=False), **flags)
    rewrite(root, container_id, set_flags)
    container = DockerRoot(str(root)).load_container(container_id)
    assert container.facts()['state'] == expected
    assert container.inspect_document()['State']['Status'] == expected
    assert container.facts()['dead'] is (expected == 'dead')


@pytest.mark.parametrize('field, value, named', [
    ('State', 'running', 'State: expected an object, found a string "running"'),
    ('Config', ['sh'], 'Config: expected an object, found an array'),
    ('Name', 5, 'Name: expected a string, found a number 5'),
    ('Image', 5, 'Image: expected a string, found a number 5'),
    ('MountPoints', {'/data': 'x'}, 'MountPoints["/data"]: expected an object'),
])
def test_a_real_config_with_a_value_of_another_json_type_is_that_containers_error(
        shared_roots, tmp_path, field, value, named):
    from ansible_collections.dfir.docker.plugins.module_utils._docker_root import ContainerConfigError, DockerRoot
    root = real_root(shared_roots, tmp_path)
    victim, bystander = sorted(os.listdir(str(root / 'containers')))[:2]
    path = rewrite(root, victim, lambda document: document.__setitem__(field, value))
    docker_root = DockerRoot(str(root))
    with pytest.raises(ContainerConfigError) as caught:
        docker_root.load_container(victim)
    assert path in str(caught.value) and named in str(caught.value) and caught.value.container_id == victim
    found, errors = docker_root.containers()
    assert [error.container_id for error in errors] == [victim]
    assert bystander in [container.id for container in found]
    for container in found:
        container.facts()   # every other container still reads


def test_a_host_config_with_a_value_of_another_json_type_names_that_file(shared_roots, tmp_path):
    """The container still reads from its config; what only the host config tells is unknown, not false."""
    from ansible_collections.dfir.docker.plugins.module_utils._docker_root import DockerRoot
    root = real_root(shared_roots, tmp_path)
    victim = sorted(os.listdir(str(root / 'containers')))[0]
    path = rewrite(root, victim, lambda document: document.__setitem__('LogConfig', {'Type': ['json-file']}),
                   'hostconfig.json')
    facts = DockerRoot(str(root)).load_container(victim).facts()
    assert path in facts['host_config_error']
    assert 'LogConfig.Type: expected a string, found an array' in facts['host_config_error']
    assert facts['privileged'] is None and facts['log_driver'] is None and facts['id'] == victim


@pytest.mark.parametrize('damage, named', [
    (os.unlink, 'no hostconfig.json in'),
    (lambda path: open(path, 'wb').write(b'{"Privileged": tru'), 'is not valid JSON'),
    (lambda path: open(path, 'wb').write(b'["Privileged"]'), 'is not a JSON object'),
])
def test_a_missing_or_corrupt_host_config_leaves_privileged_unknown_and_says_why(shared_roots, tmp_path, damage, named):
    from ansible_collections.dfir.docker.plugins.module_utils._docker_root import DockerRoot
    root = real_root(shared_roots, tmp_path)
    victim, bystander = sorted(os.listdir(str(root / 'containers')))[:2]
    before = DockerRoot(str(root)).load_container(victim).facts()
    assert before['host_config_error'] is None and before['privileged'] is False
    damage(str(root / 'containers' / victim / 'hostconfig.json'))
    found, errors = DockerRoot(str(root)).containers()
    assert errors == []
    facts = dict((container.id, container.facts()) for container in found)
    assert named in facts[victim]['host_config_error'] and facts[victim]['privileged'] is None
    assert facts[victim]['name'] == before['name'] and facts[victim]['state'] == before['state']
    assert facts[bystander]['host_config_error'] is None


def test_null_values_are_what_go_writes_for_nil_and_are_accepted(shared_roots, tmp_path):
    from ansible_collections.dfir.docker.plugins.module_utils._docker_root import DockerRoot
    root = real_root(shared_roots, tmp_path)
    victim = sorted(os.listdir(str(root / 'containers')))[0]

    def to_null(document):
        document.update(Args=None, MountPoints=None, Config=dict(document['Config'], Labels=None))
    rewrite(root, victim, to_null)
    facts = DockerRoot(str(root)).load_container(victim).facts()
    assert facts['labels'] == {} and facts['id'] == victim
