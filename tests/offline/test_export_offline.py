"""container_export on the real Docker roots of ../shared/data/docker-roots, read from disk only.

Both roots were archived while a container ran, mount included: overlay2's
``<mount id>/merged`` and aufs's ``mnt/<id>`` hold what the kernel showed that
container. That is the ground truth the userspace merge is checked against,
entry by entry and byte for byte.
"""

import hashlib
import json
import os
import shutil
import stat

import pytest

from tests.support.ansible_run import run_module
from tests.support.tar_index import index_file

OVERLAY2_RUNNING = '8e8b7f23eb7cbd4dfe7e91646ddd0e0f524218e25d50113559f078dfb2690206'
OVERLAY2_MOUNT_ID = '92fd3b3e7d6101bb701743c9518c45b0d036b898c8a3d7cae84e1a06e6829b53'
OVERLAY2_IMAGE_DIFF_ID = 'sha256:0314be9edf00a925d59f9b88c9d8ccb34447ab677078874d8c14e7a6816e21e1'
AUFS_RUNNING = 'de44dd97cfd1c8d1c1aad7f75a435603991a7a39fa4f6b20a69bf4458809209c'


def kernel_view(directory):
    """What the kernel showed the container, from the mount point archived with the root."""
    entries = {}
    top = os.fsencode(directory)
    for parent, dirnames, filenames in os.walk(top):
        for name in dirnames + filenames:
            path = os.path.join(parent, name)
            st = os.lstat(path)
            digest = None
            if stat.S_ISREG(st.st_mode):
                with open(path, 'rb') as handle:
                    digest = hashlib.sha256(handle.read()).hexdigest()
            entries[os.path.relpath(path, top)] = {
                'type': b'5' if stat.S_ISDIR(st.st_mode) else b'2' if stat.S_ISLNK(st.st_mode) else b'0',
                'mode': stat.S_IMODE(st.st_mode),
                'uid': st.st_uid,
                'mtime': int(st.st_mtime),
                'size': st.st_size if stat.S_ISREG(st.st_mode) else 0,
                'linkname': os.readlink(path) if stat.S_ISLNK(st.st_mode) else b'',
                'sha256': digest,
            }
    return entries


def exported(tar):
    """The tar in the same terms; a hard link counts as the file it links to."""
    view = {}
    for name, entry in tar.items():
        if entry['type'] == b'1':
            entry = dict(tar[entry['linkname']], type=b'0')
        view[name] = dict((key, entry[key]) for key in ('type', 'mode', 'uid', 'mtime', 'size', 'linkname', 'sha256'))
    return view


def without_symlink_mtimes(view):
    """tarfile, which unpacked the shared roots, does not restore the mtime of a symlink: each copy
    got the time it was unpacked, so symlink mtimes are no ground truth here."""
    return dict((name, dict(entry, mtime=None) if entry['type'] == b'2' else entry) for name, entry in view.items())


def export(root, container, staging, **options):
    args = {'source': 'disk', 'docker_root': root, 'containers': [container], 'evidence_dir': staging}
    args.update(options)
    result = run_module('container_export', args)
    assert not result.get('failed'), result.get('msg')
    assert result['source'] == 'disk'
    return result


def tar_of(result, staging, suffix):
    paths = [item['path'] for item in result['artifacts'] if item['path'].endswith(suffix)]
    assert len(paths) == 1, paths
    return index_file(os.path.join(staging, paths[0]))


def test_overlay2_merged_view_of_the_running_container_matches_its_mount(shared_roots, staging):
    root = shared_roots['overlay2.v2']
    result = export(root, OVERLAY2_RUNNING, staging, mode=['merged', 'upper', 'layers'])
    merged = tar_of(result, staging, '/fs/merged.tar')
    truth = without_symlink_mtimes(kernel_view(os.path.join(root, 'overlay2', OVERLAY2_MOUNT_ID, 'merged')))
    assert len(truth) > 400
    ours = without_symlink_mtimes(exported(merged))
    assert sorted(set(ours) ^ set(truth)) == []
    assert [name for name in sorted(truth) if ours[name] != truth[name]] == []

    layers = result['containers'][0]['layers']
    assert [(layer['role'], layer.get('diff_id')) for layer in layers] == [
        ('image', OVERLAY2_IMAGE_DIFF_ID), ('init', None), ('container', None)]
    upper = tar_of(result, staging, '/fs/upper.tar')
    assert set(upper) == {b'tets'} and upper[b'tets']['sha256'] == truth[b'tets']['sha256']
    image = tar_of(result, staging, '/fs/layers/%s.tar' % OVERLAY2_IMAGE_DIFF_ID.replace(':', '-'))
    assert exported(image)[b'bin/busybox']['sha256'] == truth[b'bin/busybox']['sha256']


def test_aufs_v1_merged_view_of_the_running_container_matches_its_mount(shared_roots, staging):
    root = shared_roots['aufs.v1']
    result = export(root, AUFS_RUNNING, staging, mode='merged')
    truth = without_symlink_mtimes(kernel_view(os.path.join(root, 'aufs', 'mnt', AUFS_RUNNING)))
    ours = without_symlink_mtimes(exported(tar_of(result, staging, '/fs/merged.tar')))
    assert len(truth) > 400
    assert sorted(set(ours) ^ set(truth)) == []
    assert [name for name in sorted(truth) if ours[name] != truth[name]] == []
    assert not any(b'.wh.' in name for name in ours), 'aufs bookkeeping is not container data'


def test_named_volume_of_a_stopped_container_from_disk(shared_roots, staging):
    root = shared_roots['vols.v2']
    containers = sorted(os.listdir(os.path.join(root, 'containers')))
    target = [name for name in containers if name.startswith('712909b5ab80')]
    assert target, containers
    result = export(root, target[0], staging, mode='upper', volumes=True)
    mounts = result['containers'][0]['exports']['mounts']
    volume = [item for item in mounts if item['destination'] == '/opt/vols/volume']
    assert volume and volume[0]['collected'], mounts
    tar = index_file(os.path.join(staging, volume[0]['tar']))
    name = os.path.basename(volume[0]['tar'])[:-4]
    data_dir = os.path.join(root, 'volumes', name, '_data')
    on_disk = set()
    for parent, dirnames, filenames in os.walk(os.fsencode(data_dir)):
        on_disk.update(os.path.relpath(os.path.join(parent, item), os.fsencode(data_dir)) for item in dirnames + filenames)
    assert set(tar) == on_disk


def test_a_named_volume_missing_from_the_root_is_said_so_not_kept_as_an_empty_tar(shared_roots, staging):
    """The snapshot kept container 8b6e90cc742b's config but not its volume at /var/jenkins_home."""
    root = shared_roots['vols.v2']
    container = [name for name in os.listdir(os.path.join(root, 'containers')) if name.startswith('8b6e90cc742b')][0]
    result = run_module('container_export', {'source': 'disk', 'docker_root': root, 'containers': [container],
                                             'evidence_dir': staging, 'mode': 'upper', 'volumes': True})
    mounts = result['containers'][0]['exports']['mounts']
    volume = [item for item in mounts if item['destination'] == '/var/jenkins_home'][0]
    name = 'eda9ee495beccf988d963bf91de0276847e838b9531ab9118caef38a33894bb4'
    assert not os.path.exists(os.path.join(root, 'volumes', name))
    assert not volume['collected'] and volume['tar'] is None, volume
    assert 'is not in the Docker root' in volume['why_not'], volume
    assert not [item for item in result['artifacts'] if '/volumes/' in item['path']], result['artifacts']
    assert any(name in error and '/var/jenkins_home' in error for error in result['errors']), result['errors']


@pytest.fixture()
def staging(tmp_path_factory):
    return str(tmp_path_factory.mktemp('offline') / 'evidence')


def test_a_mount_id_claimed_by_two_containers_is_read_for_neither(shared_roots, tmp_path):
    """The layer database gives each container its own writable layer. When a second container's record
    names the same mount id (a tampered or damaged root), that layer cannot be attributed: before, it was
    exported, silently, as the writable layer of both containers."""
    root = str(tmp_path / 'docker')
    shutil.copytree(shared_roots['overlay2.v2'], root, symlinks=True)
    mounts = os.path.join(root, 'image', 'overlay2', 'layerdb', 'mounts')
    other = sorted(name for name in os.listdir(mounts) if name != OVERLAY2_RUNNING)[0]
    with open(os.path.join(mounts, other, 'mount-id'), 'w') as handle:
        handle.write(OVERLAY2_MOUNT_ID)
    bystander = sorted(name for name in os.listdir(mounts) if name not in (OVERLAY2_RUNNING, other))[0]

    for module, options in (('container_export', {'mode': ['upper']}), ('whiteouts', {}), ('container_changes', {})):
        staging = str(tmp_path / ('staging-' + module))
        args = {'source': 'disk', 'docker_root': root, 'containers': [OVERLAY2_RUNNING, other, bystander],
                'evidence_dir': staging}
        args.update(options)
        result = run_module(module, args)
        assert result['failed'], module
        outcomes = dict((item['id'], item) for item in result['containers'])
        for container_id, claimant in ((OVERLAY2_RUNNING, other), (other, OVERLAY2_RUNNING)):
            assert outcomes[container_id]['failed'], (module, container_id)
            assert OVERLAY2_MOUNT_ID in outcomes[container_id]['msg'] and claimant in outcomes[container_id]['msg']
            # fs/mounts.json comes from the config, not from the layer: the only artifact allowed
            assert [item['kind'] for item in result['artifacts']
                    if item['container_id'] == container_id and item['kind'] != 'container_mounts'] == [], module
        assert not outcomes[bystander]['failed'], (module, outcomes[bystander]['msg'])


def test_a_layer_that_cannot_be_read_makes_every_account_of_the_tar_incomplete(shared_roots, tmp_path):
    """The artifact record of a tar said complete=false when a layer under it could not be read, but the
    module's summary, the sidecar report and fs/mounts.json (which go into the case) said complete=true."""
    root = str(tmp_path / 'vols')
    shutil.copytree(shared_roots['vols.v2'], root, symlinks=True)
    target = [name for name in sorted(os.listdir(os.path.join(root, 'containers'))) if name.startswith('712909b5ab80')][0]
    with open(os.path.join(root, 'containers', target, 'config.v2.json')) as handle:
        (point,) = json.load(handle)['MountPoints'].values()
    data_dir = os.path.join(root, 'volumes', point['Name'], '_data')
    host_dir = tmp_path / 'host'
    host_dir.mkdir()
    (host_dir / 'secret').write_text('host data, not the volume\n')
    shutil.rmtree(data_dir)
    os.symlink(str(host_dir), data_dir)      # a volume's _data pointing out of the root: never followed
    staging = str(tmp_path / 'staging-vols')
    result = run_module('container_export', {'source': 'disk', 'docker_root': root, 'containers': [target],
                                             'evidence_dir': staging, 'mode': ['upper'], 'volumes': True})
    assert result['failed'] and data_dir in result['msg']
    # nothing of it can be read: no tar stands for it, and what goes into the case says why
    assert not [item for item in result['artifacts'] if item['kind'] == 'container_fs_volume'], result['artifacts']
    with open(os.path.join(staging, 'containers', target, 'fs', 'mounts.json')) as handle:
        (listed,) = json.load(handle)
    assert listed['collected'] is False and 'is a symlink, which is not followed' in listed['why_not'], listed

    root = str(tmp_path / 'overlay2')
    shutil.copytree(shared_roots['overlay2.v2'], root, symlinks=True)
    shutil.rmtree(os.path.join(root, 'overlay2', OVERLAY2_MOUNT_ID + '-init'))
    staging = str(tmp_path / 'staging-overlay2')
    result = run_module('container_export', {'source': 'disk', 'docker_root': root, 'containers': [OVERLAY2_RUNNING],
                                             'evidence_dir': staging, 'mode': ['merged']})
    assert result['failed'] and OVERLAY2_MOUNT_ID + '-init' in result['msg']
    (merged_record,) = [item for item in result['artifacts'] if item['kind'] == 'container_fs_merged']
    assert merged_record['complete'] is False
    assert result['containers'][0]['exports']['merged']['complete'] is False
    with open(os.path.join(staging, 'containers', OVERLAY2_RUNNING, 'fs', 'merged.json')) as handle:
        assert json.load(handle)['report']['complete'] is False
