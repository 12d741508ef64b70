"""A Docker root that is not this machine's: the host paths its configs name are the suspect's, never ours.

The real vols.v2 root has a container (8b6e90cc742b) with a bind mount of /opt/vols/bind, and the
overlay2.v2 root one recorded as running (festive_perlman) with its host PID. Each is read twice:
unpacked at <image>/var/lib/docker, as a mounted disk image holds it (its daemon recorded
/var/lib/docker), and as a copy of the root alone. This machine's /opt is a private tmpfs holding a
decoy at the same path, so reading our own /opt/vols/bind would show.
"""

import json
import os
import tarfile

import pytest

from tests.conftest import SHARED_ROOTS
from tests.support.ansible_run import run_module
from tests.support.tar_index import index_file

VOLS_BIND = '8b6e90cc742bd63f6acb7ecd40ddadb4e5dee27d8db2b739963f7cd2c7bcff4a'
OVERLAY2_RUNNING = '8e8b7f23eb7cbd4dfe7e91646ddd0e0f524218e25d50113559f078dfb2690206'
DECOY = b'this machine, not the suspect\n'
SUSPECT = b'the suspect host bind data\n'
SUBUID = 'dockremap:231072:65536\n'


def unpack(name, directory):
    """The shared root `name` unpacked so that its docker/ dir is `directory`; return that."""
    parent = os.path.dirname(directory)
    os.makedirs(parent, exist_ok=True)
    with tarfile.open(os.path.join(SHARED_ROOTS, name + '.tgz')) as archive:
        archive.extractall(parent, filter='tar') if hasattr(tarfile, 'tar_filter') else archive.extractall(parent)
    os.rename(os.path.join(parent, 'docker'), directory)
    return directory


def with_decoy_opt():
    """A private mount namespace whose /opt is a tmpfs with a decoy where the suspect's bind source was."""
    script = ('mount -t tmpfs dfir-decoy /opt && mkdir -p /opt/vols/bind && printf "%s" > /opt/vols/bind/decoy.txt '
              '&& exec "$@"' % DECOY.decode().replace('\n', '\\n'))
    return ['unshare', '--mount', '--propagation', 'private', 'sh', '-c', script, 'sh']


@pytest.fixture()
def image(tmp_path):
    """vols.v2 as a mounted disk image holds it, with the bind source and subuid file of its host."""
    root = unpack('vols.v2', str(tmp_path / 'image' / 'var' / 'lib' / 'docker'))
    bind = tmp_path / 'image' / 'opt' / 'vols' / 'bind'
    bind.mkdir(parents=True)
    (bind / 'evidence.txt').write_bytes(SUSPECT)
    (tmp_path / 'image' / 'etc').mkdir()
    (tmp_path / 'image' / 'etc' / 'subuid').write_text(SUBUID)
    (tmp_path / 'image' / 'etc' / 'subgid').write_text(SUBUID)
    return root


def export_binds(root, staging):
    return run_module('container_export', {'source': 'disk', 'docker_root': root, 'containers': [VOLS_BIND],
                                           'evidence_dir': staging, 'mode': 'upper', 'bind_mounts': True},
                      wrap=with_decoy_opt())


def bind_record(staging):
    with open(os.path.join(staging, 'containers', VOLS_BIND, 'fs', 'mounts.json')) as handle:
        return [item for item in json.load(handle) if item.get('type') == 'bind'][0]


def test_a_bind_source_is_read_below_the_mounted_image_not_from_this_machine(image, tmp_path):
    staging = str(tmp_path / 'staging')
    result = export_binds(image, staging)
    record = bind_record(staging)
    assert record['collected'] and record['source'] == '/opt/vols/bind', record
    assert record['source_here'] == str(tmp_path / 'image' / 'opt' / 'vols' / 'bind')
    entries = index_file(os.path.join(staging, record['tar']))
    names = sorted(name.decode() for name in entries)
    assert 'evidence.txt' in names and 'decoy.txt' not in names, names
    artifact = [item for item in result['artifacts'] if item['path'] == record['tar']][0]
    assert artifact['size'] == os.path.getsize(os.path.join(staging, record['tar']))


def test_a_bind_source_of_a_copied_root_is_not_taken_from_this_machine(tmp_path):
    root = unpack('vols.v2', str(tmp_path / 'copy' / 'docker'))
    staging = str(tmp_path / 'staging')
    result = export_binds(root, staging)
    record = bind_record(staging)
    assert not record['collected'] and not record.get('tar'), record
    assert '/opt/vols/bind is a path of the host the Docker root came from' in record['why_not'], record
    assert 'kept it at /var/lib/docker' in record['why_not'], record
    assert not os.path.exists(os.path.join(staging, 'containers', VOLS_BIND, 'fs', 'binds'))
    assert any('bind mount /opt' in error for error in result['errors']), result['errors']


def test_the_decoy_is_what_this_machines_own_root_gives(tmp_path):
    """The two tests above can fail: the same root at this machine's own /var/lib/docker (as a stopped
    daemon leaves it) is this machine's, and its bind source is then this machine's /opt, the decoy."""
    root = unpack('vols.v2', str(tmp_path / 'copy' / 'docker'))
    staging = str(tmp_path / 'staging')
    over_default_root = ['unshare', '--mount', '--propagation', 'private', 'sh', '-c',
                         'mount --bind "$0" /var/lib/docker && exec "$@"', root] + with_decoy_opt()
    result = run_module('container_export', {'source': 'disk', 'docker_root': '/var/lib/docker',
                                             'containers': [VOLS_BIND], 'evidence_dir': staging, 'mode': 'upper',
                                             'bind_mounts': True}, wrap=over_default_root)
    assert not result['failed'], result['msg']
    record = bind_record(staging)
    assert record['collected'] and 'source_here' not in record, record
    names = sorted(name.decode() for name in index_file(os.path.join(staging, record['tar'])))
    assert 'decoy.txt' in names and 'evidence.txt' not in names, names


def map_processes(root, staging):
    result = run_module('process_map', {'source': 'disk', 'docker_root': root, 'containers': [OVERLAY2_RUNNING],
                                        'evidence_dir': staging})
    assert not result['failed'], result['msg']
    return result


def test_the_pid_recorded_in_another_machines_root_is_not_looked_up_here(tmp_path):
    root = unpack('overlay2.v2', str(tmp_path / 'copy' / 'docker'))
    result = map_processes(root, str(tmp_path / 'staging'))
    container = result['containers'][0]
    assert container['processes'] == [], container
    assert any("no process is read from this machine's /proc" in note and 'kept it at /var/lib/docker' in note
               for note in container['notes']), container['notes']
    subuid = result['userns']['subuid_file']
    assert subuid['path'] is None and not subuid['readable'] and subuid['error'].startswith('not read: '), subuid


def test_the_subuid_file_of_a_mounted_image_is_the_images(tmp_path):
    root = unpack('overlay2.v2', str(tmp_path / 'image' / 'var' / 'lib' / 'docker'))
    (tmp_path / 'image' / 'etc').mkdir()
    (tmp_path / 'image' / 'etc' / 'subuid').write_text(SUBUID)
    result = map_processes(root, str(tmp_path / 'staging'))
    subuid = result['userns']['subuid_file']
    assert subuid['path'] == str(tmp_path / 'image' / 'etc' / 'subuid') and subuid['readable'], subuid
    assert [(entry['name'], entry['start']) for entry in subuid['entries']] == [('dockremap', 231072)], subuid
    assert result['containers'][0]['processes'] == []


def test_engine_facts_says_where_the_hosts_own_files_are(tmp_path, image):
    copy = unpack('vols.v2', str(tmp_path / 'copy' / 'docker'))
    for root, expected in ((image, str(tmp_path / 'image')), (copy, None)):
        engine = run_module('engine_facts', {'source': 'disk', 'docker_root': root})['engine']
        assert engine['host_files'] == expected, engine
        assert (engine['host_files_unknown'] is None) == (expected is not None), engine
