"""whiteouts and container_changes against a real dockerd, on containers whose deletions the test made.

Ground truth is the scenario itself (what the Dockerfile and each container did, and the bytes they
wrote), the daemon's own change list (GET /containers/{id}/changes through the Docker SDK), and the
image's layers from `docker save` (each layer tar hashed to its diff id): never the modules' output.
"""

import hashlib
import io
import json
import os
import re
import subprocess
import tarfile

import pytest

from tests.integration.test_container_export import describe_changes, snapshot, wait_for_log
from tests.integration.test_container_export import changes as snapshot_changes
from tests.support.ansible_run import run_module, run_playbook
from tests.support.dockerd import DOCKER
from tests.support.fs_images import ensure_layered
from tests.support.images import BASE_TAG, build
from tests.support.tar_index import index_file, index_tar

pytestmark = pytest.mark.daemon

IMAGE = 'dfir-test/deleted:1'
# Layer 1 makes the files; layer 2, a later build step, deletes one of them (a whiteout in an image layer).
DOCKERFILE = '''FROM %s
RUN mkdir -p /srv/data /srv/tree/sub /srv/redo /etc/app \\
 && echo seed > /srv/data/seed && echo doomed > /srv/data/doomed && echo keep > /srv/data/keep \\
 && echo a > /srv/tree/a && echo b > /srv/tree/sub/b && echo old > /srv/redo/old \\
 && echo conf > /etc/app/conf && echo same > /etc/app/same && echo meta > /etc/app/meta \\
 && echo unchanged > /etc/app/unchanged && echo raw > "$(printf '/srv/data/raw\\377name')"
RUN rm /srv/data/doomed
''' % BASE_TAG
# What every scenario container does to its own filesystem.
CHANGES = r'''
rm /srv/data/seed
rm -rf /srv/tree
rm -rf /srv/redo && mkdir /srv/redo && echo new > /srv/redo/new
mkdir /brandnew && echo x > /brandnew/x
echo changed > /etc/app/conf
touch /etc/app/same
chmod 600 /etc/app/meta
chown 0:0 /etc/app/unchanged
echo own > /tmp/own && rm /tmp/own
rm "$(printf '/srv/data/raw\377name')"
'''
RAW = '/srv/data/raw\\xffname'    # the name as the results show it (a byte that is not UTF-8, escaped)
DELETED_BY_CONTAINER = {'/srv/data/seed': 'deleted', '/srv/tree': 'deleted', '/srv/redo': 'replaced', RAW: 'deleted'}
# An image whose layers carry opaque directories (docker load of tars written here).
OPAQUE_IMAGE = 'dfir-test/opaque-layers:1'
OPAQUE_LAYERS = [[('legacy/old', b'old legacy\n'), ('legacy/keep', b'keep legacy\n')],
                 [('legacy/.wh..wh..opq', b''), ('legacy/new', b'new legacy\n'),
                  ('fresh/.wh..wh..opq', b''), ('fresh/file', b'fresh\n')]]


def sha(data):
    return hashlib.sha256(data).hexdigest()


class Scenario:
    pass


@pytest.fixture(scope='module')
def scenario(dockerd):
    build(dockerd, IMAGE, DOCKERFILE)
    made = Scenario()
    made.diff_ids = dockerd.inspect(IMAGE)['RootFS']['Layers']
    made.running = dockerd.docker('run', '-d', '--network', 'none', '--stop-timeout', '1', IMAGE, 'sh', '-c',
                                  CHANGES + 'echo ready; exec sleep 100000')
    wait_for_log(dockerd, made.running, 'ready')
    made.stopped = dockerd.docker('run', '-d', '--network', 'none', IMAGE, 'sh', '-c', CHANGES)
    made.dead = dockerd.docker('run', '-d', '--network', 'none', IMAGE, 'sh', '-c', CHANGES)
    for container in (made.stopped, made.dead):
        assert dockerd.docker('wait', container) == '0', dockerd.docker('logs', container, check=False)
    # A dead container, as dockerd makes one: its removal failed (the layer could not be deleted).
    # Immutable directories: no entry of the layer can be unlinked (devices take no flags themselves).
    layer_dir = os.path.dirname(dockerd.inspect(made.dead)['GraphDriver']['Data']['UpperDir'])
    try:
        subprocess.run(['find', layer_dir, '-type', 'd', '-exec', 'chattr', '+i', '{}', '+'], check=True)
        dockerd.docker('rm', made.dead, check=False)
        assert dockerd.inspect(made.dead)['State']['Dead'] is True
        yield made
    finally:
        subprocess.run(['find', layer_dir, '-type', 'd', '-exec', 'chattr', '-i', '{}', '+'], check=False)
        dockerd.docker('rm', '-f', made.running, made.stopped, made.dead, check=False)


def module(name, dockerd, staging, containers, **options):
    args = {'docker_host': dockerd.host, 'containers': containers}
    if staging is not None:
        args['evidence_dir'] = staging
    args.update(options)
    return run_module(name, args)


@pytest.fixture(scope='module')
def runs(dockerd, scenario, tmp_path_factory):
    """Each module once per source over all three containers; every test reads these results."""
    found = {}
    every = [scenario.running, scenario.stopped, scenario.dead]
    sources = {'api': {'source': 'api'}, 'disk': {'source': 'disk', 'docker_root': dockerd.data_root}}
    # The daemon's own change list comes last: to answer it, the daemon mounts a stopped container's
    # layers, and overlayfs then empties its work directory, which changes the shared whiteout inode.
    for name, source, options in (('whiteouts', 'api', {'recover': True}), ('whiteouts', 'disk', {'recover': True}),
                                  ('changes', 'disk', {}), ('changes', 'api', {'daemon_cross_check': True})):
        staging = str(tmp_path_factory.mktemp('%s-%s' % (name, source)) / 'staging')
        module_name = 'container_changes' if name == 'changes' else name
        found[(name, source)] = (module(module_name, dockerd, staging, every, **dict(sources[source], **options)),
                                 staging)
    for (name, source), (result, _staging) in found.items():
        assert not result.get('failed'), (name, source, result.get('msg'))
    return found


def jsonl(run, container, name):
    result, staging = run
    record = [item for item in result['artifacts'] if item['path'] == 'containers/%s/%s' % (container, name)]
    assert len(record) == 1, [item['path'] for item in result['artifacts']]
    path = os.path.join(staging, record[0]['path'])
    with open(path, 'rb') as handle:
        data = handle.read()
    assert sha(data) == record[0]['sha256'] and len(data) == record[0]['size']
    return [json.loads(line) for line in data.decode('utf-8').splitlines()]


def markers(records, role):
    return dict((record['path'], record) for record in records if record['record'] == 'marker'
                and record['layer']['role'] == role)


def layer_files(dockerd, image):
    """{diff id: {name: entry}} of an image's layers from `docker save`, each layer's diff id its tar's SHA-256."""
    saved = subprocess.run([DOCKER, '-H', dockerd.host, 'save', image], stdout=subprocess.PIPE, check=True).stdout
    layers = {}
    with tarfile.open(fileobj=io.BytesIO(saved)) as outer:
        for member in outer:
            if member.isfile() and member.name.endswith('layer.tar'):
                data = outer.extractfile(member).read()
                layers['sha256:' + sha(data)] = index_tar(io.BytesIO(data))
    return layers


def unescape(shown):
    """A path as the results show it, back to the daemon's form (bytes that are not UTF-8 as U+FFFD)."""
    raw = re.sub(rb'\\x([0-9a-f]{2})', lambda match: bytes([int(match.group(1), 16)]), shown.encode('utf-8'))
    return raw.decode('utf-8', 'replace')


# -- whiteouts ----------------------------------------------------------------------------------


@pytest.mark.parametrize('which', ['running', 'stopped', 'dead'])
def test_every_deletion_of_a_container_is_found_with_what_it_hid_and_where_that_came_from(runs, scenario, which):
    container = getattr(scenario, which)
    records = jsonl(runs[('whiteouts', 'api')], container, 'whiteouts.jsonl')
    ours = markers(records, 'container')
    assert dict((path, record['effect']) for path, record in ours.items()) == DELETED_BY_CONTAINER
    seed = ours['/srv/data/seed']
    assert seed['marker'] == 'whiteout' and seed['on_disk'] == 'character device 0/0'
    assert [(item['layer']['diff_id'], item['was_visible'], item['sha256']) for item in seed['hides']] == [
        (scenario.diff_ids[1], True, sha(b'seed\n'))]
    assert 'echo seed > /srv/data/seed' in seed['hides'][0]['layer']['created_by']
    assert seed['hides'][0]['type'] == 'file' and seed['hides'][0]['size'] == 5 and seed['hides'][0]['uid'] == 0
    assert seed['marker_stat']['mtime'].endswith('Z')
    hidden = dict((record['path'], record) for record in records if record['record'] == 'hidden')
    assert sorted(path for path, item in hidden.items() if item['under'] == '/srv/tree') == [
        '/srv/tree/a', '/srv/tree/sub', '/srv/tree/sub/b']
    assert hidden['/srv/tree/sub/b']['sha256'] == sha(b'b\n')
    assert hidden['/srv/tree/sub/b']['layer']['diff_id'] == scenario.diff_ids[1]
    assert [path for path, item in hidden.items() if item['under'] == '/srv/redo'] == ['/srv/redo/old']
    # Created and deleted by the container itself: overlay leaves no marker, there is nothing to report.
    assert not any(record['path'].startswith(('/tmp/own', '/brandnew')) for record in records)


def test_a_later_build_step_deletion_is_attributed_to_its_image_layer(runs, scenario):
    records = jsonl(runs[('whiteouts', 'api')], scenario.stopped, 'whiteouts.jsonl')
    image = markers(records, 'image')
    assert list(image) == ['/srv/data/doomed']
    doomed = image['/srv/data/doomed']
    assert doomed['effect'] == 'deleted' and doomed['layer']['diff_id'] == scenario.diff_ids[2]
    assert 'rm /srv/data/doomed' in doomed['layer']['created_by']
    assert doomed['hides'][0]['layer']['diff_id'] == scenario.diff_ids[1]
    assert doomed['hides'][0]['sha256'] == sha(b'doomed\n')


def test_the_recovered_originals_hash_like_the_image_layer_files(dockerd, runs, scenario):
    result, staging = runs[('whiteouts', 'api')]
    saved = layer_files(dockerd, IMAGE)
    assert sorted(saved) == sorted(scenario.diff_ids), 'docker save gives the same diff ids'
    origin_layer = saved[scenario.diff_ids[1]]
    for container in (scenario.running, scenario.stopped, scenario.dead):
        record = [item for item in result['artifacts']
                  if item['path'] == 'containers/%s/whiteouts-recovered.tar' % container][0]
        tar = index_file(os.path.join(staging, record['path']))
        files = dict((name, entry['sha256']) for name, entry in tar.items() if entry['type'] == b'0')
        assert sorted(files) == sorted([b'container-layer/srv/data/seed', b'container-layer/srv/tree/a',
                                        b'container-layer/srv/tree/sub/b', b'container-layer/srv/redo/old',
                                        b'container-layer/srv/data/raw\xffname'])
        for name, digest in files.items():
            assert digest == origin_layer[name[len(b'container-layer/'):]]['sha256'], name
        assert record['complete'] is True and record['kind'] == 'container_whiteouts_recovered'


def test_disk_and_api_give_the_same_markers(runs, scenario):
    for container in (scenario.running, scenario.stopped, scenario.dead):
        from_api = jsonl(runs[('whiteouts', 'api')], container, 'whiteouts.jsonl')
        from_disk = jsonl(runs[('whiteouts', 'disk')], container, 'whiteouts.jsonl')
        assert from_api == from_disk
    live = dict((item['id'], item['state']) for item in runs[('whiteouts', 'api')][0]['containers'])
    assert (live[scenario.running], live[scenario.stopped], live[scenario.dead]) == ('running', 'exited', 'dead')


def test_opaque_image_layers_new_and_replaced_directories(dockerd, staging):
    tag, diff_ids = ensure_layered(dockerd, OPAQUE_IMAGE, OPAQUE_LAYERS)
    container = dockerd.docker('create', '--network', 'none', tag, 'true')
    try:
        result = module('whiteouts', dockerd, staging, [container], layers=['image'])
        assert not result.get('failed'), result.get('msg')
        records = jsonl((result, staging), container, 'whiteouts.jsonl')
    finally:
        dockerd.docker('rm', '-f', container, check=False)
    image = markers(records, 'image')
    assert dict((path, record['effect']) for path, record in image.items()) == {
        '/fresh': 'new_directory', '/legacy': 'replaced'}
    assert image['/legacy']['layer']['diff_id'] == diff_ids[2] and image['/legacy']['hides'][0]['layer']['diff_id'] == diff_ids[1]
    hidden = dict((record['path'], record['sha256']) for record in records if record['record'] == 'hidden')
    assert hidden == {'/legacy/keep': sha(b'keep legacy\n'), '/legacy/old': sha(b'old legacy\n')}


# -- the change set -----------------------------------------------------------------------------


@pytest.mark.parametrize('which', ['running', 'stopped'])
def test_every_change_the_daemon_lists_is_in_ours(runs, scenario, sdk, which):
    container = getattr(scenario, which)
    records = jsonl(runs[('changes', 'api')], container, 'changes.jsonl')
    ours = set((unescape(record['path']), record['change']) for record in records)
    replaced = set(unescape(record['path']) for record in records if record.get('detail') == 'replaced')
    letters = {0: 'C', 1: 'A', 2: 'D'}
    daemon = [(item['Path'], letters[item['Kind']]) for item in sdk.api.diff(container)]
    assert len(daemon) >= 10
    missing = [item for item in daemon if item not in ours and not (item[1] == 'D' and item[0] in replaced)]
    assert missing == []
    outcome = [item for item in runs[('changes', 'api')][0]['containers'] if item['id'] == container][0]
    assert outcome['daemon_cross_check']['agrees'] is True and outcome['daemon_cross_check']['missing'] == []


@pytest.mark.parametrize('which', ['running', 'stopped', 'dead'])
def test_a_change_says_how_it_differs_from_the_layer_it_shadows(runs, scenario, which):
    records = dict((record['path'], record)
                   for record in jsonl(runs[('changes', 'disk')], getattr(scenario, which), 'changes.jsonl'))
    conf = records['/etc/app/conf']
    assert (conf['change'], conf['detail']) == ('C', 'content_changed')
    assert conf['now']['sha256'] == sha(b'changed\n') and conf['before']['sha256'] == sha(b'conf\n')
    assert conf['before']['layer']['diff_id'] == scenario.diff_ids[1]
    assert (records['/etc/app/same']['detail'], records['/etc/app/same']['differs']) == ('metadata_changed', ['mtime'])
    assert (records['/etc/app/meta']['detail'], records['/etc/app/meta']['differs']) == ('metadata_changed', ['mode'])
    assert records['/etc/app/unchanged']['detail'] == 'copied_up_unchanged'
    assert records['/etc/app/unchanged']['now']['sha256'] == sha(b'unchanged\n')
    assert records['/brandnew']['change'] == 'A' and records['/brandnew/x']['change'] == 'A'
    assert (records['/srv/redo']['change'], records['/srv/redo']['detail']) == ('C', 'replaced')
    assert (records['/srv/redo/old']['change'], records['/srv/redo/old']['detail']) == ('D', 'hidden_by_opaque_directory')
    assert records['/srv/redo/new']['change'] == 'A'
    seed = records['/srv/data/seed']
    assert seed['change'] == 'D' and seed['before']['sha256'] == sha(b'seed\n')
    assert records[RAW]['change'] == 'D' and records['/srv/tree']['change'] == 'D'
    assert not any(path.startswith('/tmp/own') for path in records)


def test_disk_and_api_give_the_same_change_set(runs, scenario):
    for container in (scenario.running, scenario.stopped, scenario.dead):
        assert jsonl(runs[('changes', 'api')], container, 'changes.jsonl') == \
            jsonl(runs[('changes', 'disk')], container, 'changes.jsonl')


# -- counts, check mode, soundness -------------------------------------------------------------


def test_counts_only_writes_nothing_and_counts_what_the_full_run_counts(dockerd, runs, scenario):
    whiteouts = module('whiteouts', dockerd, None, [scenario.stopped], counts_only=True)
    changes = module('container_changes', dockerd, None, [scenario.stopped], counts_only=True)
    assert not whiteouts.get('failed') and not changes.get('failed'), (whiteouts.get('msg'), changes.get('msg'))
    assert whiteouts['artifacts'] == [] and changes['artifacts'] == []
    full = [item for item in runs[('changes', 'api')][0]['containers'] if item['id'] == scenario.stopped][0]
    assert dict((letter, changes['containers'][0]['counts'][letter]) for letter in 'ACD') == \
        dict((letter, full['counts'][letter]) for letter in 'ACD')
    assert whiteouts['containers'][0]['counts']['whiteouts'] == 4   # three by the container, one by a build step
    assert whiteouts['containers'][0]['counts']['opaque_dirs'] == 1


def test_check_mode_writes_nothing(dockerd, scenario, tmp_path):
    planned = str(tmp_path / 'planned')
    result = run_module('whiteouts', {'docker_host': dockerd.host, 'containers': [scenario.stopped],
                                      'evidence_dir': planned, 'recover': True}, check_mode=True)
    assert not result.get('failed'), result.get('msg')
    assert not os.path.exists(planned)
    assert sorted(item['path'].rsplit('/', 1)[1] for item in result['artifacts']) == [
        'whiteouts-recovered.tar', 'whiteouts.jsonl']
    assert all(item['planned'] and item['sha256'] is None for item in result['artifacts'])


def age_atimes(root):
    """Every atime a day older than its mtime (relatime would then update any atime a read touched);
    the dead container's layer is immutable and keeps its own."""
    for path in snapshot(root):
        st = os.lstat(path)
        try:
            os.utime(path, ns=(st.st_mtime_ns - 86400 * 10 ** 9, st.st_mtime_ns), follow_symlinks=False)
        except PermissionError:
            continue


def test_reading_from_disk_changes_nothing_under_the_docker_root(dockerd, scenario, tmp_path):
    root = dockerd.data_root
    age_atimes(root)
    before = snapshot(root)
    for name, options in (('whiteouts', {'recover': True}), ('container_changes', {'hash': 'all'})):
        result = module(name, dockerd, str(tmp_path / name), [scenario.running, scenario.stopped], source='disk',
                        docker_root=root, **options)
        assert not result.get('failed'), result.get('msg')
    changed = snapshot_changes(before, snapshot(root))
    assert not changed, describe_changes(changed)


def test_an_unknown_container_is_an_error_and_the_others_are_read(dockerd, scenario, staging):
    result = module('whiteouts', dockerd, staging, ['no-such-container', scenario.stopped])
    assert result.get('failed') and 'no-such-container' in result['msg']
    assert [item['path'] for item in result['artifacts']] == [
        'containers/%s/whiteouts.jsonl' % scenario.stopped, 'containers/%s/whiteouts.json' % scenario.stopped]


# -- the acquire role ---------------------------------------------------------------------------


def test_the_acquire_role_collects_deletions_and_changes_into_the_sealed_case(dockerd, scenario, tmp_path):
    key = str(tmp_path / 'examiner')
    subprocess.run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-f', key], check=True)
    code, output = run_playbook('playbooks/acquire.yml', {
        'dfir_examiner': 'examiner', 'dfir_signing_key': key, 'dfir_case_root': str(tmp_path / 'cases'),
        'dfir_case_id': 'deleted', 'dfir_docker_host': dockerd.host, 'dfir_evidence_dir': str(tmp_path / 'staging'),
        'dfir_containers': [scenario.stopped], 'dfir_export_modes': ['upper'],
        'ansible_python_interpreter': '/usr/bin/python3'}, args=['-c', 'local'])
    assert code == 0, output[-3000:]
    case = str(tmp_path / 'cases' / 'deleted')
    subprocess.run(['sha256sum', '--quiet', '-c', 'SHA256SUMS'], cwd=case, check=True)
    collection = json.load(open(os.path.join(case, 'hosts', 'localhost', 'collection.json')))
    steps = dict((item['step'], item) for item in collection['steps'])
    assert not steps['whiteouts'].get('failed') and not steps['container_changes'].get('failed')
    container_dir = os.path.join(case, 'hosts', 'localhost', 'containers', scenario.stopped)
    for name in ('whiteouts.jsonl', 'whiteouts.json', 'whiteouts-recovered.tar', 'changes.jsonl', 'changes.json'):
        assert os.path.isfile(os.path.join(container_dir, name)), name
    recovered = index_file(os.path.join(container_dir, 'whiteouts-recovered.tar'))
    assert recovered[b'container-layer/srv/data/seed']['sha256'] == sha(b'seed\n')


# -- markers lost or planted, against the layer's own record -----------------------------------


def test_a_marker_lost_from_an_image_layer_or_planted_in_it_is_found_against_its_tar_split(dockerd, staging):
    tag = build(dockerd, 'dfir-test/lossy:1', 'FROM %s\nRUN echo gone > /gone\nRUN rm /gone\n' % BASE_TAG)
    image = dockerd.inspect(tag)
    top = image['GraphDriver']['Data']['UpperDir']          # the layer of `RUN rm /gone`
    marker, planted = os.path.join(top, 'gone'), os.path.join(top, 'planted')
    container = dockerd.docker('create', '--network', 'none', tag, 'true')
    # A copy that lost its device files, and a whiteout someone added to the image layer afterwards.
    os.unlink(marker)
    os.mknod(planted, 0o020000, os.makedev(0, 0))
    try:
        result = module('whiteouts', dockerd, staging, [container], layers=['image'])
    finally:
        os.unlink(planted)
        os.mknod(marker, 0o020000, os.makedev(0, 0))
        dockerd.docker('rm', '-f', container, check=False)
        dockerd.docker('rmi', tag, check=False)
    assert not result.get('failed'), result.get('msg')
    records = jsonl((result, staging), container, 'whiteouts.jsonl')
    missing = [record for record in records if record['record'] == 'marker_missing']
    assert [(record['path'], record['layer']['diff_id']) for record in missing] == [('/gone', image['RootFS']['Layers'][-1])]
    assert missing[0]['would_hide'][0]['sha256'] == sha(b'gone\n')
    added = markers(records, 'image')['/planted']
    assert added['recorded_in_layer_tar'] is False and added['effect'] == 'nothing_below'
    counts = result['containers'][0]['counts']
    assert (counts['markers_missing'], counts['markers_not_recorded']) == (1, 1)
