"""The filesystem modules against real dockerd's on the vfs and the old overlay storage drivers.

Each driver gets its own private daemon (tests/support/dockerd.py with storage_driver), an image
built offline whose second build step deletes a file of the first (a deletion recorded in an image
layer), and a running container that adds, changes and deletes files, one of them from the image.
Ground truth is the daemon's own: `docker export`, the change list of GET /containers/{id}/changes
and `docker image inspect`; and the driver directories on disk. Never the modules' output.
"""

import hashlib
import json
import os
import shutil
import stat

import pytest

from tests.integration.test_container_export import wait_for_log
from tests.integration.test_whiteouts import layer_files
from tests.support.ansible_run import run_module
from tests.support.dockerd import Dockerd, DockerdError, make_base
from tests.support.images import BASE_TAG, build, ensure_base
from tests.support.tar_index import differences, index_docker_export, index_file

pytestmark = pytest.mark.daemon

DRIVERS = ('vfs', 'overlay')
IMAGE = 'dfir-test/driver-layers:1'
# Layer 1 makes the files; layer 2 deletes one of them and adds another.
DOCKERFILE = '''FROM %s
RUN mkdir -p /srv/data /srv/tree && echo seed > /srv/data/seed && echo doomed > /srv/data/doomed \\
 && echo conf > /srv/data/conf && echo keep > /srv/data/keep && echo a > /srv/tree/a
RUN rm /srv/data/doomed && echo late > /srv/data/late
''' % BASE_TAG
# What the container does: adds, changes, deletes a file of the image, deletes a directory of it.
CHANGES = r'''
echo added > /root/added.txt
echo changed > /srv/data/conf
rm /srv/data/seed
rm -rf /srv/tree
echo own > /tmp/own && rm /tmp/own
echo ready
exec sleep 100000
'''
DELETED = ['/srv/data/seed', '/srv/tree']
LETTERS = {0: 'C', 1: 'A', 2: 'D'}


def sha(data):
    return hashlib.sha256(data).hexdigest()


class Case:
    pass


@pytest.fixture(scope='session', params=DRIVERS)
def driver_case(request, tmp_path_factory):
    """A daemon on one storage driver, the image and the container, and one run of each module over it."""
    if os.geteuid() != 0:
        pytest.fail('integration tests run as root: they start their own dockerd')
    daemon = Dockerd(make_base('dfir-%s-' % request.param), storage_driver=request.param)
    try:
        daemon.start()
    except DockerdError as exc:
        shutil.rmtree(daemon.base, ignore_errors=True)
        pytest.skip('dockerd --storage-driver %s does not start here: %s' % (request.param, exc))
    try:
        case = Case()
        case.driver = request.param
        case.daemon = daemon
        ensure_base(daemon)
        build(daemon, IMAGE, DOCKERFILE)
        case.diff_ids = daemon.inspect(IMAGE)['RootFS']['Layers']
        case.container = daemon.docker('run', '-d', '--network', 'none', IMAGE, 'sh', '-c', CHANGES)
        wait_for_log(daemon, case.container, 'ready')
        case.inspect = daemon.inspect(case.container)
        client = daemon.sdk()
        try:
            case.daemon_changes = set((item['Path'], LETTERS[item['Kind']]) for item in client.api.diff(case.container))
        finally:
            client.close()
        disk = {'docker_host': daemon.host, 'source': 'disk', 'docker_root': daemon.data_root,
                'containers': [case.container]}
        case.runs = {}
        for name, options in (('container_export', {'mode': ['merged', 'upper', 'layers']}),
                              ('whiteouts', {'recover': True}), ('container_changes', {}),
                              ('container_inspect', {})):
            staging = str(tmp_path_factory.mktemp('%s-%s' % (request.param, name)) / 'staging')
            case.runs[name] = (run_module(name, dict(disk, evidence_dir=staging, **options)), staging)
        yield case
    finally:
        daemon.stop()
        shutil.rmtree(daemon.base, ignore_errors=True)


def result_of(case, name):
    result, _staging = case.runs[name]
    assert not result.get('failed'), (case.driver, name, result.get('msg'), result.get('errors'))
    return result


def staged(case, name, suffix):
    result, staging = case.runs[name]
    found = [item for item in result['artifacts'] if item['path'].endswith(suffix)]
    assert len(found) == 1, (suffix, [item['path'] for item in result['artifacts']])
    return os.path.join(staging, found[0]['path'])


def jsonl(case, name, suffix):
    with open(staged(case, name, suffix), 'rb') as handle:
        return [json.loads(line) for line in handle.read().decode('utf-8').splitlines()]


def test_the_daemon_runs_the_driver_asked_for(driver_case):
    assert driver_case.daemon.info()['Driver'] == driver_case.driver
    assert driver_case.inspect['GraphDriver']['Name'] == driver_case.driver


def test_merged_from_disk_agrees_with_docker_export(driver_case):
    result_of(driver_case, 'container_export')
    ours = index_file(staged(driver_case, 'container_export', '/fs/merged.tar'))
    theirs = index_docker_export(driver_case.daemon, driver_case.container)
    assert len(ours) > 250
    assert differences(ours, theirs) == {}
    assert b'srv/data/seed' not in ours and b'srv/data/doomed' not in ours and b'srv/tree' not in ours
    assert ours[b'srv/data/conf']['sha256'] == sha(b'changed\n')


def test_upper_holds_what_the_container_changed_with_deletion_markers(driver_case):
    result = result_of(driver_case, 'container_export')
    tar = index_file(staged(driver_case, 'container_export', '/fs/upper.tar'))
    assert tar[b'root/added.txt']['sha256'] == sha(b'added\n')
    assert tar[b'srv/data/conf']['sha256'] == sha(b'changed\n')
    markers = set()
    for path in DELETED:
        marker = os.path.join(os.path.dirname(path), '.wh.' + os.path.basename(path)).lstrip('/').encode()
        assert tar[marker]['type'] == b'0' and tar[marker]['size'] == 0, (marker, sorted(tar))
        markers.add(marker)
    assert b'bin/busybox' not in tar, 'image files are not in the writable layer'
    assert b'srv/data/keep' not in tar and b'tmp/own' not in tar
    summary = result['containers'][0]['exports']['upper']
    assert summary['whiteouts'] == len(DELETED)
    if driver_case.driver == 'vfs':
        # vfs stores a full copy: the writable layer is what it changed against the init layer's copy,
        # exactly the entries `docker diff` lists (directories with a change inside them included).
        changed = set(path.lstrip('/').encode() for path, kind in driver_case.daemon_changes if kind in 'AC')
        assert set(tar) - markers == changed
    else:
        # overlay: upper/ as stored (it also holds the copies of the init layer's files)
        upper = os.fsencode(driver_case.inspect['GraphDriver']['Data']['UpperDir'])
        stored = set()
        for directory, dirnames, filenames in os.walk(upper):
            for name in dirnames + filenames:
                path = os.path.join(directory, name)
                relative = os.path.relpath(path, upper)
                if stat.S_ISCHR(os.lstat(path).st_mode):
                    relative = os.path.join(os.path.dirname(relative), b'.wh.' + name)
                stored.add(relative)
        assert set(tar) == stored


def test_whiteouts_name_each_deletion_and_the_image_layer_of_what_it_hid(driver_case):
    result_of(driver_case, 'whiteouts')
    records = jsonl(driver_case, 'whiteouts', 'whiteouts.jsonl')
    found = dict(((record['path'], record['layer']['role']), record) for record in records if record['record'] == 'marker')
    container = dict((path, record) for (path, role), record in found.items() if role == 'container')
    assert sorted(container) == DELETED, sorted(found)
    seed = container['/srv/data/seed']
    assert seed['effect'] == 'deleted'
    if driver_case.driver == 'vfs':
        # No marker on disk: computed against the init layer's copy.
        assert seed['on_disk'] == 'absent from this full copy, present in the one below', seed
    else:
        assert seed['on_disk'] == 'character device 0/0'
    assert [(item['layer']['diff_id'], item['sha256']) for item in seed['hides'] if item['was_visible']] == [
        (driver_case.diff_ids[1], sha(b'seed\n'))]
    image = dict((path, record) for (path, role), record in found.items() if role == 'image')
    # The computed deletions of image layers agree with the markers Docker recorded in each layer's tar-split.
    assert [record for record in records if record['record'] == 'marker_missing'] == []
    assert list(image) == ['/srv/data/doomed']
    doomed = image['/srv/data/doomed']
    assert doomed['layer']['diff_id'] == driver_case.diff_ids[2] and 'rm /srv/data/doomed' in doomed['layer']['created_by']
    assert doomed['hides'][0]['layer']['diff_id'] == driver_case.diff_ids[1]
    assert doomed['hides'][0]['sha256'] == sha(b'doomed\n')
    # Image layers of both drivers are full copies (overlay: root/): the deletion is computed.
    assert doomed['on_disk'] == 'absent from this full copy, present in the one below'
    hidden = dict((record['path'], record) for record in records if record['record'] == 'hidden')
    assert hidden['/srv/tree/a']['layer']['diff_id'] == driver_case.diff_ids[1]
    assert hidden['/srv/tree/a']['sha256'] == sha(b'a\n')


def test_changes_match_the_daemons_list(driver_case):
    result_of(driver_case, 'container_changes')
    records = dict((record['path'], record) for record in jsonl(driver_case, 'container_changes', 'changes.jsonl'))
    ours = set((path, record['change']) for path, record in records.items())
    assert len(driver_case.daemon_changes) >= 5
    assert driver_case.daemon_changes - ours == set()
    if driver_case.driver == 'vfs':
        assert ours == driver_case.daemon_changes
    else:
        # overlay's upper/ also holds copies of the init layer's files: unchanged, attributed to it. And a
        # directory whose mtime alone changed (/tmp: /tmp/own came and went) is C, which docker diff ignores.
        extra = dict((path, records[path]) for path, _kind in ours - driver_case.daemon_changes)
        assert '/tmp' in extra and extra.pop('/tmp')['differs'] == ['mtime']
        assert extra and all(item['detail'] == 'copied_up_unchanged' for item in extra.values()), extra
        assert records['/etc/hosts']['before']['layer']['role'] == 'init'
    assert records['/srv/data/seed']['change'] == 'D'
    assert records['/srv/data/seed']['before']['layer']['diff_id'] == driver_case.diff_ids[1]
    assert records['/srv/data/conf']['before']['sha256'] == sha(b'conf\n')
    assert not any(path.startswith('/tmp/own') for path in records)


def test_inspect_layer_chain_names_the_driver_directories_on_disk(driver_case):
    result_of(driver_case, 'container_inspect')
    with open(staged(driver_case, 'container_inspect', '/layers.json')) as handle:
        chain = json.load(handle)
    assert [layer['diff_id'] for layer in chain['layers']] == driver_case.diff_ids
    base = os.path.join(driver_case.daemon.data_root, driver_case.driver)
    for layer in chain['layers']:
        assert layer['dir_exists'] and os.path.isdir(layer['dir']) and layer['dir'].startswith(base + '/'), layer
    rw = chain['rw_layer']
    assert rw['upper_dir_exists'] and os.path.isdir(rw['upper_dir']) and os.path.isdir(rw['init_dir']), rw


def test_each_image_layer_exports_as_what_its_build_step_changed(driver_case):
    # Both drivers keep image layers as full copies; `docker save` gives each as the tar Docker made of
    # its diff. Ours lists the same names, the deletion of the second step as a whiteout entry.
    result_of(driver_case, 'container_export')
    saved = layer_files(driver_case.daemon, IMAGE)
    for diff_id in driver_case.diff_ids:
        ours = index_file(staged(driver_case, 'container_export', '/fs/layers/%s.tar' % diff_id.replace(':', '-')))
        assert set(name.rstrip(b'/') for name in ours) == set(name.rstrip(b'/') for name in saved[diff_id]), diff_id
    top = index_file(staged(driver_case, 'container_export',
                            '/fs/layers/%s.tar' % driver_case.diff_ids[2].replace(':', '-')))
    assert b'srv/data/.wh.doomed' in top and top[b'srv/data/late']['sha256'] == sha(b'late\n')
