"""container_export against a real dockerd: scenario containers built offline, tars checked entry by entry.

Ground truth comes from the scenario itself (what the container did), from the daemon's own
`docker export`, from `docker image inspect` (diff ids) and from the layer directories on the
host; never from the module's output.
"""

import json
import os
import shutil
import stat
import subprocess
import tempfile
import threading
import time

import pytest

from tests.support.ansible_run import run_module, run_playbook
from tests.support.fs_images import CAP_NET_RAW, NANO_MTIME, SHADOW, ensure_fs_base, ensure_layered, hundred_layer_files
from tests.support.dockerd import Dockerd, make_base, subuid_start
from tests.support.images import BASE_TAG, build, ensure_base
from tests.support.tar_index import differences, index_docker_export, index_file

pytestmark = pytest.mark.daemon

GIB = 1024 ** 3
SCENARIO = 'dfir-test/fs-scenario:1'
DOCKERFILE = '''FROM dfir-test/fs-base:1
RUN echo original > /etc/app.conf && echo bye > /etc/todelete && echo keep > /etc/keep \\
 && mkdir -p /opt/app /opq && echo lib > /opt/app/lib && echo old > /opq/old \\
 && echo owned > /home/app/owned && chown 1001:1001 /home/app/owned
RUN rm -rf /opq && mkdir /opq && echo new > /opq/new && rm /opt/app/lib
'''
# What the running scenario container does to its own filesystem before it says "ready".
SETUP = r'''
echo added > /root/added.txt
echo modified > /etc/app.conf
rm /etc/todelete
printf one > "$(printf '/tmp/new\nline')"
printf two > "$(printf '/tmp/\377byte')"
ln -s /etc/shadow /leak
ln /etc/passwd /root/passwd.hard
truncate -s 1G /sparse
printf data | dd of=/sparse bs=1 seek=536870912 conv=notrunc 2>/dev/null
mkfifo /tmp/fifo
mknod /tmp/null c 1 3
echo volume-data > /vol/file
echo tmpfs-data > /scratch/file
echo ready
exec sleep 100000
'''


def wait_for_log(dockerd, container, text, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if text in dockerd.docker('logs', container, check=False):
            return
        time.sleep(0.2)
    raise AssertionError('%s never logged %r: %s' % (container, text, dockerd.docker('logs', container, check=False)))


class Scenario:
    pass


@pytest.fixture(scope='module')
def scenario(dockerd):
    ensure_fs_base(dockerd)
    build(dockerd, SCENARIO, DOCKERFILE)
    bind_dir = tempfile.mkdtemp(prefix='dfir-bind-', dir='/var/tmp')
    with open(os.path.join(bind_dir, 'hostfile'), 'wb') as handle:
        handle.write(b'host data\n')
    made = Scenario()
    made.bind_dir = bind_dir
    made.running = dockerd.docker('run', '-d', '--name', 'fs-running', '--network', 'none',
                                  '-v', 'fs-volume:/vol', '--tmpfs', '/scratch', '-v', '%s:/hostdata:ro' % bind_dir,
                                  SCENARIO, 'sh', '-c', SETUP)
    wait_for_log(dockerd, made.running, 'ready')
    made.stopped = dockerd.docker('run', '-d', '--name', 'fs-stopped', '--network', 'none', SCENARIO, 'sh', '-c',
                                  'echo changed > /etc/app.conf; rm /etc/keep /opq/new; mkdir /var/log/app;'
                                  ' echo line > /var/log/app/log')
    dockerd.docker('wait', made.stopped)
    made.running_inspect = dockerd.inspect(made.running)
    made.stopped_inspect = dockerd.inspect(made.stopped)
    made.image_diff_ids = dockerd.inspect(SCENARIO)['RootFS']['Layers']
    try:
        yield made
    finally:
        dockerd.docker('rm', '-f', made.running, made.stopped, check=False)
        dockerd.docker('volume', 'rm', 'fs-volume', check=False)
        shutil.rmtree(bind_dir, ignore_errors=True)


def export(dockerd, staging, containers, check_mode=False, **options):
    args = {'docker_host': dockerd.host, 'evidence_dir': staging, 'containers': containers}
    args.update(options)
    return run_module('container_export', args, check_mode=check_mode)


def artifact(result, suffix):
    found = [item for item in result['artifacts'] if item['path'].endswith(suffix)]
    assert len(found) == 1, (suffix, [item['path'] for item in result['artifacts']])
    return found[0]


def staged(staging, record):
    return os.path.join(staging, record['path'])


# -- merged ------------------------------------------------------------------------------------


def test_merged_from_disk_holds_what_the_container_saw(dockerd, scenario, staging):
    result = export(dockerd, staging, [scenario.running], mode='merged')
    assert not result.get('failed'), result.get('msg')
    assert result['read_method']['read_method'] == 'detached read-only noatime view'
    record = artifact(result, '/fs/merged.tar')
    assert record['kind'] == 'container_fs_merged' and record['source'] == 'disk' and record['complete']
    tar = index_file(staged(staging, record))
    upper = scenario.running_inspect['GraphDriver']['Data']['UpperDir']

    assert tar[b'root/added.txt']['sha256'] == sha(b'added\n')
    assert tar[b'etc/app.conf']['sha256'] == sha(b'modified\n'), 'the container changed the image file'
    assert b'etc/todelete' not in tar, 'the container deleted it'
    assert tar[b'etc/keep']['sha256'] == sha(b'keep\n')
    assert tar[b'tmp/new\nline']['sha256'] == sha(b'one')
    assert tar[b'tmp/\xffbyte']['sha256'] == sha(b'two')
    assert tar[b'leak']['type'] == b'2' and tar[b'leak']['linkname'] == b'/etc/shadow'
    assert tar[b'etc/shadow']['sha256'] == sha(SHADOW), "the container's own shadow file, not the host's"
    assert tar[b'root/passwd.hard']['type'] == b'1' and tar[b'root/passwd.hard']['linkname'] == b'etc/passwd'
    assert tar[b'tmp/fifo']['type'] == b'6'
    assert tar[b'tmp/null']['type'] == b'3' and tar[b'tmp/null']['device'] == (1, 3)
    assert tar[b'usr/bin/capped']['capability'] == CAP_NET_RAW
    assert tar[b'etc/nanotime']['mtime_ns'] == NANO_MTIME[0] * 10 ** 9 + NANO_MTIME[1]
    on_disk = os.stat(os.path.join(upper, 'root/added.txt'))
    assert tar[b'root/added.txt']['mtime_ns'] == on_disk.st_mtime_ns
    assert tar[b'home/app/owned']['uid'] == 1001 and tar[b'home/app/owned']['uname'] == 'app'
    assert sorted(name for name in tar if name.startswith(b'opq/')) == [b'opq/new'], 'opaque directory'
    assert b'opt/app/lib' not in tar, 'deleted in an image layer'
    assert not any(name.startswith(b'vol/') or name.startswith(b'scratch/') or name.startswith(b'hostdata/')
                   for name in tar), 'mounts are not part of the container filesystem'
    # 1 GiB of holes: stored as a sparse entry, restored whole
    assert tar[b'sparse']['size'] == GIB and tar[b'sparse']['sparse']
    assert tar[b'sparse']['sha256'] == sparse_digest(GIB, 536870912, b'data')
    assert record['size'] < 16 * 1024 * 1024


def test_merged_from_disk_agrees_with_docker_export_entry_by_entry(dockerd, scenario, staging):
    result = export(dockerd, staging, [scenario.running], mode='merged', merged_via='disk')
    assert not result.get('failed'), result.get('msg')
    ours = index_file(staged(staging, artifact(result, '/fs/merged.tar')))
    theirs = index_docker_export(dockerd, scenario.running)
    assert len(ours) > 300
    assert differences(ours, theirs) == {}


def test_merged_via_api_and_via_disk_agree_for_a_stopped_container(dockerd, scenario, tmp_path):
    disk_dir, api_dir = str(tmp_path / 'disk'), str(tmp_path / 'api')
    from_disk = export(dockerd, disk_dir, [scenario.stopped], mode='merged', merged_via='disk')
    from_api = export(dockerd, api_dir, [scenario.stopped], mode='merged', merged_via='api')
    assert not from_disk.get('failed') and not from_api.get('failed'), (from_disk.get('msg'), from_api.get('msg'))
    disk_record = artifact(from_disk, '/fs/merged.tar')
    api_record = artifact(from_api, '/fs/merged.tar')
    assert (disk_record['source'], api_record['source']) == ('disk', 'api')
    disk_tar, api_tar = index_file(staged(disk_dir, disk_record)), index_file(staged(api_dir, api_record))
    assert differences(disk_tar, api_tar) == {}
    assert disk_tar[b'etc/app.conf']['sha256'] == sha(b'changed\n')
    assert b'etc/keep' not in disk_tar and b'opq/new' not in disk_tar
    assert disk_tar[b'var/log/app/log']['sha256'] == sha(b'line\n')


# -- upper and layers -------------------------------------------------------------------------


def test_upper_is_the_writable_layer_with_its_deletion_markers(dockerd, scenario, staging):
    result = export(dockerd, staging, [scenario.running], mode='upper')
    assert not result.get('failed'), result.get('msg')
    tar = index_file(staged(staging, artifact(result, '/fs/upper.tar')))
    upper = scenario.running_inspect['GraphDriver']['Data']['UpperDir']
    expected = set()
    for directory, dirnames, filenames in os.walk(os.fsencode(upper)):
        for name in dirnames + filenames:
            path = os.path.join(directory, name)
            st = os.lstat(path)
            relative = os.path.relpath(path, os.fsencode(upper))
            if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                relative = os.path.join(os.path.dirname(relative), b'.wh.' + name)
            expected.add(relative)
    assert set(tar) == expected
    assert tar[b'etc/.wh.todelete']['type'] == b'0' and tar[b'etc/.wh.todelete']['size'] == 0
    assert b'bin/busybox' not in tar, 'image files are not in the writable layer'
    report = json.load(open(staged(staging, artifact(result, '/fs/upper.json'))))
    whiteouts = {item['path']: item for item in report['report']['whiteouts']}
    assert set(whiteouts) == {'/etc/todelete'}
    assert whiteouts['/etc/todelete']['on_disk'] == 'character device 0/0'
    summary = result['containers'][0]['exports']['upper']
    assert summary['whiteouts'] == 1 and summary['entries'] == len(tar)


def test_layers_are_one_tar_each_named_by_diff_id_with_whiteouts_and_opaque_markers(dockerd, scenario, staging):
    result = export(dockerd, staging, [scenario.stopped], mode='layers')
    assert not result.get('failed'), result.get('msg')
    layer_tars = sorted(item['path'].rsplit('/', 1)[1] for item in result['artifacts']
                        if item['kind'] == 'container_fs_layer')
    expected = sorted(['%s.tar' % diff_id.replace(':', '-') for diff_id in scenario.image_diff_ids] + ['init.tar'])
    assert layer_tars == expected
    last = index_file(staged(staging, artifact(result, scenario.image_diff_ids[-1].replace(':', '-') + '.tar')))
    assert b'opq/.wh..wh..opq' in last and last[b'opq/new']['sha256'] == sha(b'new\n')
    assert b'opt/app/.wh.lib' in last
    first = index_file(staged(staging, artifact(result, scenario.image_diff_ids[0].replace(':', '-') + '.tar')))
    assert first[b'bin/busybox']['size'] > 0 and first[b'usr/bin/capped']['capability'] == CAP_NET_RAW
    report = json.load(open(staged(staging, artifact(result, '/fs/layers.json'))))
    assert [item['layer'].get('diff_id') for item in report['layers_exported']] == scenario.image_diff_ids + [None]


def test_a_layer_shared_by_two_containers_is_written_once(dockerd, scenario, staging):
    result = export(dockerd, staging, [scenario.running, scenario.stopped], mode='layers')
    assert not result.get('failed'), result.get('msg')
    image_tars = [item for item in result['artifacts'] if item['kind'] == 'container_fs_layer'
                  and not item['path'].endswith('/init.tar')]
    assert len(image_tars) == len(scenario.image_diff_ids)
    second = [item for item in result['containers'] if item['id'] == scenario.stopped][0]
    assert all(item['tar'] for item in second['exports']['layers'])


# -- paths -------------------------------------------------------------------------------------


def test_paths_are_resolved_inside_the_container_with_globs_and_a_size_cap(dockerd, scenario, staging):
    result = export(dockerd, staging, [scenario.running], mode='paths',
                    paths=['/root', '/tmp/*line', '/leak', '/sparse', '/etc/app.*'], paths_max_bytes=1000)
    assert not result.get('failed'), result.get('msg')
    tar = index_file(staged(staging, artifact(result, '/fs/paths.tar')))
    assert tar[b'root/added.txt']['sha256'] == sha(b'added\n')
    assert tar[b'tmp/new\nline']['sha256'] == sha(b'one')
    assert tar[b'leak']['type'] == b'2'
    assert tar[b'etc/shadow']['sha256'] == sha(SHADOW), "the symlink's target, inside the container"
    assert tar[b'etc/app.conf']['sha256'] == sha(b'modified\n')
    assert b'sparse' not in tar and b'etc/passwd' not in tar
    report = json.load(open(staged(staging, artifact(result, '/fs/paths.json'))))
    assert [item['path'] for item in report['report']['skipped']] == ['/sparse']
    assert result['containers'][0]['exports']['paths']['skipped'] == 1


# -- mounts ------------------------------------------------------------------------------------


def test_mounts_are_listed_volume_and_tmpfs_collected_bind_only_when_asked(dockerd, scenario, tmp_path):
    without = str(tmp_path / 'without')
    result = export(dockerd, without, [scenario.running], mode='upper', volumes=True, tmpfs=True)
    assert not result.get('failed'), result.get('msg')
    mounts = {item['destination']: item for item in json.load(open(staged(without, artifact(result, '/fs/mounts.json'))))}
    assert set(mounts) == {'/vol', '/scratch', '/hostdata'}
    assert mounts['/hostdata']['collected'] is False and 'bind_mounts' in mounts['/hostdata']['why_not']
    volume = index_file(staged(without, artifact(result, '/fs/volumes/fs-volume.tar')))
    assert volume[b'file']['sha256'] == sha(b'volume-data\n')
    tmpfs_record = [item for item in result['artifacts'] if item['kind'] == 'container_fs_tmpfs'][0]
    assert tmpfs_record['volatile'] is True
    assert index_file(staged(without, tmpfs_record))[b'file']['sha256'] == sha(b'tmpfs-data\n')

    with_binds = str(tmp_path / 'with')
    result = export(dockerd, with_binds, [scenario.running], mode='upper', bind_mounts=True)
    assert not result.get('failed'), result.get('msg')
    bind = [item for item in result['artifacts'] if item['kind'] == 'container_fs_bind'][0]
    assert index_file(staged(with_binds, bind))[b'hostfile']['sha256'] == sha(b'host data\n')
    assert not any(item['kind'] in ('container_fs_volume', 'container_fs_tmpfs') for item in result['artifacts'])


def test_tmpfs_of_a_stopped_container_is_gone_and_said_so(dockerd, scenario, staging):
    stopped = dockerd.docker('create', '--network', 'none', '--tmpfs', '/scratch', SCENARIO, 'true')
    try:
        result = export(dockerd, staging, [stopped], mode='upper', tmpfs=True)
        assert not result.get('failed'), result.get('msg')
        mounts = result['containers'][0]['exports']['mounts']
        assert mounts[0]['collected'] is False and 'not running' in mounts[0]['why_not']
    finally:
        dockerd.docker('rm', '-f', stopped, check=False)


# -- soundness ---------------------------------------------------------------------------------


def snapshot(root):
    """(atime, mtime, ctime, size) in ns of every entry of the Docker root's own filesystem.

    Directories are listed with O_NOATIME and entries are lstat'ed, so taking the snapshot
    changes nothing itself; mounts under the root (a running container's merged view, its
    shm) belong to other filesystems and are left out.
    """
    root_stat = os.lstat(root)
    root_dev = root_stat.st_dev
    found = {os.fsencode(root): (root_stat.st_atime_ns, root_stat.st_mtime_ns, root_stat.st_ctime_ns, root_stat.st_size)}
    pending = [os.fsencode(root)]
    while pending:
        directory = pending.pop()
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_NOATIME)
        try:
            with os.scandir(fd) as entries:
                names = [os.fsencode(entry.name) for entry in entries]
        finally:
            os.close(fd)
        for name in names:
            path = os.path.join(directory, name)
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                continue
            if st.st_dev != root_dev:
                continue
            found[path] = (st.st_atime_ns, st.st_mtime_ns, st.st_ctime_ns, st.st_size)
            if stat.S_ISDIR(st.st_mode):
                pending.append(path)
    return found


def age_atimes(root):
    """Set every atime a day older than its mtime, so relatime would update any atime a read touched."""
    for path in snapshot(root):
        st = os.lstat(path)
        os.utime(path, ns=(st.st_mtime_ns - 86400 * 10 ** 9, st.st_mtime_ns), follow_symlinks=False)


def changes(before, after):
    return dict((path, (before.get(path), after.get(path))) for path in set(before) | set(after)
                if before.get(path) != after.get(path))


def describe_changes(changed):
    return '\n'.join('%s: %s -> %s' % (path.decode(errors='replace'), was, now) for path, (was, now) in sorted(changed.items()))


ALL_MODES = dict(mode=['merged', 'upper', 'layers', 'paths'], paths=['/etc', '/leak', '/root/*'], volumes=True, tmpfs=True)


def test_export_from_disk_changes_nothing_under_the_docker_root(dockerd, scenario, staging):
    """source=disk: the daemon is not asked anything, so every difference would be ours."""
    root = dockerd.data_root
    age_atimes(root)
    before = snapshot(root)
    result = export(dockerd, staging, [scenario.running, scenario.stopped], source='disk', docker_root=root,
                    **ALL_MODES)
    assert not result.get('failed'), result.get('msg')
    assert len(result['artifacts']) > 10 and result['source'] == 'disk'
    changed = changes(before, snapshot(root))
    assert not changed, describe_changes(changed)
    # The snapshot sees what a careless read does: one plain readlink of a symlink in the layer.
    leak = os.path.join(os.fsencode(scenario.running_inspect['GraphDriver']['Data']['UpperDir']), b'leak')
    os.readlink(leak)
    assert snapshot(root)[leak][0] != before[leak][0]


def is_container_content(root, path):
    """Layer directories, volume data and container directories: the evidence itself."""
    relative = os.path.relpath(path, os.fsencode(root)).split(b'/')
    return ((relative[0] == b'overlay2' and len(relative) > 2 and relative[2] == b'diff')
            or (relative[0] == b'volumes' and len(relative) > 2 and relative[2] == b'_data')
            or (relative[0] == b'containers' and len(relative) > 2))


def test_export_through_the_api_leaves_container_content_untouched(dockerd, scenario, staging):
    """source=api: answering inspect, the daemon itself reads its metadata (overlay2 lower files and
    l/ links, image metadata, its network store) and their atimes move; the layers, volumes and
    container directories must not."""
    root = dockerd.data_root
    age_atimes(root)
    before = snapshot(root)
    result = export(dockerd, staging, [scenario.running, scenario.stopped], source='api', **ALL_MODES)
    assert not result.get('failed'), result.get('msg')
    changed = changes(before, snapshot(root))
    content = dict((path, value) for path, value in changed.items() if is_container_content(root, path))
    assert not content, describe_changes(content)
    assert all(was[1:] == now[1:] for was, now in changed.values()), 'only access times moved'


def test_evidence_dir_inside_the_docker_root_is_refused(dockerd, scenario):
    inside = os.path.join(dockerd.data_root, 'staging-here')
    result = export(dockerd, inside, [scenario.running], mode='upper')
    assert result.get('failed') and 'inside the Docker root' in result['msg']
    assert not os.path.exists(inside)


# -- check mode --------------------------------------------------------------------------------


def test_check_mode_reports_the_exact_size_it_would_write(dockerd, scenario, tmp_path):
    planned_dir, real_dir = str(tmp_path / 'planned'), str(tmp_path / 'real')
    options = dict(mode=['merged', 'upper', 'paths'], paths=['/etc', '/root'])
    planned = export(dockerd, planned_dir, [scenario.stopped], check_mode=True, **options)
    real = export(dockerd, real_dir, [scenario.stopped], **options)
    assert not planned.get('failed') and not real.get('failed'), (planned.get('msg'), real.get('msg'))
    assert not os.path.exists(planned_dir)
    planned_sizes = dict((item['path'], item['size']) for item in planned['artifacts'])
    real_sizes = dict((item['path'], item['size']) for item in real['artifacts'] if item['path'].endswith('.tar'))
    assert planned_sizes == real_sizes and len(real_sizes) == 3
    assert all(item['planned'] and item['sha256'] is None for item in planned['artifacts'])


def test_merged_is_skipped_over_the_size_threshold_and_upper_still_exported(dockerd, scenario, staging):
    result = export(dockerd, staging, [scenario.running], mode=['upper', 'merged'], merged_max_bytes=1024 * 1024)
    assert not result.get('failed'), result.get('msg')
    exports = result['containers'][0]['exports']
    assert 'merged_max_bytes' in exports['merged']['skipped']
    assert exports['upper']['tar'] and not os.path.exists(os.path.join(staging, exports['upper']['tar'][:-9] + 'merged.tar'))


# -- a hundred layers --------------------------------------------------------------------------


def test_an_image_of_a_hundred_layers_merges_from_the_layer_database(dockerd, staging):
    tag, diff_ids = ensure_layered(dockerd, 'dfir-test/layers100:1', hundred_layer_files(100))
    container = dockerd.docker('create', '--network', 'none', tag, 'true')
    try:
        info = dockerd.inspect(container)
        lower = info['GraphDriver']['Data']['LowerDir']
        assert len(lower) > 4096, 'the mount option string would not fit a page'
        result = export(dockerd, staging, [container], mode=['merged', 'layers'])
        assert not result.get('failed'), result.get('msg')
        layers = result['containers'][0]['layers']
        assert [layer.get('diff_id') for layer in layers if layer['role'] == 'image'] == diff_ids
        assert [layer['dir'] for layer in reversed(layers) if layer['role'] != 'container'] == lower.split(':')
        tar = index_file(staged(staging, artifact(result, '/fs/merged.tar')))
        assert tar[b'f']['sha256'] == sha(b'two\n')
        assert all(tar[b'f%d' % number]['sha256'] == sha(b'%d\n' % number) for number in range(1, 101))
        report = json.load(open(staged(staging, artifact(result, '/fs/layers.json'))))
        assert len(report['layers_exported']) == 102
        one = index_file(staged(staging, artifact(result, diff_ids[-2].replace(':', '-') + '.tar')))
        assert one[b'f']['sha256'] == sha(b'one\n'), 'the hidden version is in its own layer'
    finally:
        dockerd.docker('rm', '-f', container, check=False)


def test_the_resolver_names_the_layer_each_path_comes_from(dockerd):
    """Attribution through the pure resolver on the live daemon's root, against docker's own diff ids."""
    from ansible_collections.dfir.docker.plugins.module_utils._docker_root import DockerRoot
    from ansible_collections.dfir.docker.plugins.module_utils._layers import stack_for_container
    from ansible_collections.dfir.docker.plugins.module_utils._tree import ReadOnlyTree
    tag, diff_ids = ensure_layered(dockerd, 'dfir-test/layers100:1', hundred_layer_files(100))
    container = dockerd.docker('create', '--network', 'none', tag, 'true')
    try:
        with ReadOnlyTree(dockerd.data_root) as tree:
            stack, notes = stack_for_container(DockerRoot(dockerd.data_root).load_container(container), tree)
            assert notes == [] and stack.problems == []
            assert stack.lookup(b'/f').layer.diff_id == diff_ids[-1]
            assert stack.lookup(b'/f50').layer.diff_id == diff_ids[50]
            assert stack.lookup(b'/bin/busybox').layer.diff_id == diff_ids[0]
            assert stack.lookup(b'/.dockerenv').layer.role == 'init'
            versions, visible = stack.versions(b'/f')
            assert [item.layer.diff_id for item in versions] == [diff_ids[-1], diff_ids[-2]] and visible == 0
    finally:
        dockerd.docker('rm', '-f', container, check=False)


# -- a user-namespace-remapped daemon ------------------------------------------------------------


@pytest.fixture(scope='module')
def remapped_dockerd():
    base = make_base('dfir-remap-')
    os.chmod(base, 0o711)  # the remapped root uid must be able to traverse to its root
    daemon = Dockerd(base, userns_remap='default')
    try:
        daemon.start()
        ensure_base(daemon)
        yield daemon
    finally:
        daemon.stop()
        shutil.rmtree(daemon.base, ignore_errors=True)


def test_a_remapped_root_exports_the_owners_the_container_saw(remapped_dockerd, staging):
    daemon = remapped_dockerd
    container = daemon.docker('run', '-d', '--network', 'none', BASE_TAG, 'sh', '-c',
                              'echo mine > /home/app/file && chown 1001:1001 /home/app/file && echo root > /root/r')
    assert daemon.docker('wait', container) == '0'
    result = export(daemon, staging, [container], mode='merged')
    assert not result.get('failed'), result.get('msg')
    # The daemon keeps its state under the remap user's first subordinate ids, read as it reads them.
    remapped = '/%d.%d' % (subuid_start()[0], subuid_start(path='/etc/subgid')[0])
    assert result['read_method']['path'].endswith(remapped), (result['read_method'], remapped)
    ours = index_file(staged(staging, artifact(result, '/fs/merged.tar')))
    assert (ours[b'home/app/file']['uid'], ours[b'home/app/file']['uname']) == (1001, 'app')
    assert (ours[b'root/r']['uid'], ours[b'root/r']['gid']) == (0, 0)
    # Docker's init layer makes /etc/mtab owned by the host's root, outside the remapped range: the
    # container sees nobody:nogroup, and `docker export` leaves the entry out. Everything else agrees.
    mismatched = differences(ours, index_docker_export(daemon, container))
    assert list(mismatched) == [b'etc/mtab'] and mismatched[b'etc/mtab'][1] is None, mismatched
    assert (ours[b'etc/mtab']['uid'], ours[b'etc/mtab']['gid'], ours[b'etc/mtab']['uname']) == (65534, 65534, 'nobody')


# -- the acquire role ---------------------------------------------------------------------------


def test_the_acquire_role_exports_upper_and_merged_into_the_sealed_case(dockerd, scenario, tmp_path):
    key = str(tmp_path / 'examiner')
    subprocess.run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-f', key], check=True)
    code, output = run_playbook('playbooks/acquire.yml', {
        'dfir_examiner': 'examiner', 'dfir_signing_key': key, 'dfir_case_root': str(tmp_path / 'cases'),
        'dfir_case_id': 'fs-role', 'dfir_docker_host': dockerd.host, 'dfir_evidence_dir': str(tmp_path / 'staging'),
        'dfir_containers': [scenario.stopped, scenario.running], 'dfir_export_merged_max_bytes': 64 * 1024 * 1024,
        'ansible_python_interpreter': '/usr/bin/python3'}, args=['-c', 'local'])
    assert code == 0, output[-3000:]
    case = str(tmp_path / 'cases' / 'fs-role')
    subprocess.run(['sha256sum', '--quiet', '-c', 'SHA256SUMS'], cwd=case, check=True)
    collection = json.load(open(os.path.join(case, 'hosts', 'localhost', 'collection.json')))
    step = [item for item in collection['steps'] if item['step'] == 'container_export'][0]
    assert not step.get('failed') and step['artifacts'] > 0
    stored = set(item['path'] for item in collection['artifacts'])
    for container in (scenario.stopped, scenario.running):
        assert 'containers/%s/fs/upper.tar' % container in stored
        assert 'containers/%s/fs/merged.tar' % container in stored
    stopped_merged = index_file(os.path.join(case, 'hosts', 'localhost', 'containers', scenario.stopped, 'fs', 'merged.tar'))
    assert stopped_merged[b'etc/app.conf']['sha256'] == sha(b'changed\n')


# -- bad input ---------------------------------------------------------------------------------


@pytest.fixture()
def big_container(dockerd):
    """A stopped container with 1 GiB of random data in 64 files of its writable layer."""
    container = dockerd.docker('run', '-d', '--network', 'none', BASE_TAG, 'sh', '-c',
                               'mkdir /big && for i in $(seq 1 64); do '
                               'head -c 16777216 /dev/urandom > /big/$i; done')
    assert dockerd.docker('wait', container, timeout=300) == '0'
    yield container
    dockerd.docker('rm', '-f', container, check=False)


def leftovers(staging):
    found = []
    for directory, _dirnames, filenames in os.walk(staging):
        found.extend(os.path.join(directory, name) for name in filenames if name.endswith(('.partial', '.progress')))
    return found


def test_a_container_removed_during_the_export_fails_and_leaves_no_partial_tar(dockerd, big_container, staging):
    outcome = {}
    worker = threading.Thread(target=lambda: outcome.update(export(dockerd, staging, [big_container], mode='merged')))
    worker.start()
    progress = os.path.join(staging, 'containers', big_container, 'fs', 'merged.tar.progress')
    deadline = time.time() + 120
    while not os.path.exists(progress) and worker.is_alive() and time.time() < deadline:
        time.sleep(0.02)
    assert os.path.exists(progress), 'the export never started writing'
    dockerd.docker('rm', '-f', big_container)
    worker.join(300)
    assert outcome.get('failed')
    assert 'removed during the export' in outcome['msg'] and 'partial tar was deleted' in outcome['msg']
    assert not any(item['path'].endswith('merged.tar') for item in outcome['artifacts'])
    assert not os.path.exists(os.path.join(staging, 'containers', big_container, 'fs', 'merged.tar'))
    assert leftovers(staging) == []


def test_a_full_staging_disk_fails_the_container_and_removes_the_partial_tar(dockerd, big_container, scenario):
    mountpoint = tempfile.mkdtemp(prefix='dfir-small-', dir='/var/tmp')
    subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=32m', 'tmpfs', mountpoint], check=True)
    try:
        staging = os.path.join(mountpoint, 'evidence')
        result = export(dockerd, staging, [big_container, scenario.running], mode='merged')
        assert result.get('failed')
        assert 'staging disk is full' in result['msg']
        by_id = dict((item['id'], item) for item in result['containers'])
        assert by_id[big_container]['failed'] and not by_id[scenario.running]['failed']
        assert not os.path.exists(os.path.join(staging, 'containers', big_container, 'fs', 'merged.tar'))
        assert leftovers(staging) == []
        assert not any(item['container_id'] == big_container and item['path'].endswith('.tar')
                       for item in result['artifacts'])
    finally:
        subprocess.run(['umount', mountpoint], check=True)
        os.rmdir(mountpoint)


def test_a_missing_layer_directory_is_named_and_the_rest_is_exported(dockerd, staging):
    tag = build(dockerd, 'dfir-test/fs-missing:1', 'FROM %s\nRUN echo present > /present\n' % BASE_TAG)
    container = dockerd.docker('create', '--network', 'none', tag, 'true')
    image = dockerd.inspect(tag)
    missing_diff_id = image['RootFS']['Layers'][-1]
    layer_dir = image['GraphDriver']['Data']['UpperDir']
    moved = layer_dir + '.moved-by-test'
    os.rename(layer_dir, moved)
    try:
        result = export(dockerd, staging, [container], mode=['merged', 'upper', 'layers'])
    finally:
        os.rename(moved, layer_dir)
        dockerd.docker('rm', '-f', container, check=False)
    assert result.get('failed')
    assert missing_diff_id in result['msg'] and 'missing' in result['msg']
    record = artifact(result, '/fs/merged.tar')
    assert record['complete'] is False
    tar = index_file(staged(staging, record))
    assert b'present' not in tar and tar[b'bin/busybox']['size'] > 0
    assert artifact(result, '/fs/upper.tar')['complete'] is False


def test_an_unknown_container_is_an_error_and_the_others_are_exported(dockerd, scenario, staging):
    result = export(dockerd, staging, ['no-such-container', scenario.stopped], mode='upper')
    assert result.get('failed') and 'no-such-container' in result['msg']
    assert artifact(result, '/fs/upper.tar')['container_id'] == scenario.stopped


# -- helpers -----------------------------------------------------------------------------------


def sha(data):
    import hashlib
    return hashlib.sha256(data).hexdigest()


def sparse_digest(size, offset, data):
    import hashlib
    digest = hashlib.sha256()
    zeros = b'\0' * (1 << 20)
    position = 0
    while position < offset:
        step = min(len(zeros), offset - position)
        digest.update(zeros[:step])
        position += step
    digest.update(data)
    position += len(data)
    while position < size:
        step = min(len(zeros), size - position)
        digest.update(zeros[:step])
        position += step
    return digest.hexdigest()
