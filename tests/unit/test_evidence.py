"""The staging dir writer: hashed while written, nothing partial left or recorded, clear reasons."""

import hashlib
import json
import os
import subprocess

import pytest

from ansible_collections.dfir.docker.plugins.module_utils._evidence import (
    PARTIAL_SUFFIX,
    EvidenceDir,
    EvidenceError,
)


def files_under(path):
    found = []
    for parent, _dirs, names in os.walk(path):
        found.extend(os.path.relpath(os.path.join(parent, name), path) for name in names)
    return sorted(found)


@pytest.fixture()
def tmpfs(tmp_path):
    """Mount a tmpfs of the given size/options at a fresh dir; always unmounted afterwards."""
    mounted = []

    def mount(options):
        target = str(tmp_path / ('tmpfs%d' % len(mounted)))
        os.mkdir(target)
        subprocess.run(['mount', '-t', 'tmpfs', '-o', options, 'tmpfs', target], check=True)
        mounted.append(target)
        return target

    yield mount
    for target in reversed(mounted):
        subprocess.run(['umount', target], check=False)


def test_an_artifact_is_recorded_with_the_hash_and_size_of_what_is_on_disk(tmp_path):
    evidence = EvidenceDir(str(tmp_path / 'staging'))
    chunks = [b'first chunk\n', b'', b'\x00' * 100000, b'last']
    record = evidence.write_stream('containers/abc/logs/big.log', iter(chunks), 'container_log', 'abc', 'api')
    on_disk = open(os.path.join(evidence.path, record['path']), 'rb').read()
    assert on_disk == b''.join(chunks)
    assert record['sha256'] == hashlib.sha256(on_disk).hexdigest()
    assert record['size'] == len(on_disk)
    assert {key: record[key] for key in ('kind', 'container_id', 'source')} == {
        'kind': 'container_log', 'container_id': 'abc', 'source': 'api'}
    assert record['collected_at'].endswith('Z')
    assert evidence.records == [record]
    assert stat_mode(evidence.path) == 0o700 and stat_mode(os.path.join(evidence.path, 'containers')) == 0o700


def stat_mode(path):
    return os.stat(path).st_mode & 0o777


def test_a_write_that_fails_midway_leaves_no_file_and_no_record(tmp_path):
    evidence = EvidenceDir(str(tmp_path / 'staging'))

    def chunks():
        yield b'half of it'
        raise RuntimeError('the source broke off')

    with pytest.raises(RuntimeError):
        evidence.write_stream('containers/abc/inspect.json', chunks(), 'container_inspect', 'abc')
    assert files_under(evidence.path) == []
    assert evidence.records == []


def test_a_copy_keeps_the_bytes_and_the_source_timestamps(tmp_path):
    source = tmp_path / 'config.v2.json'
    source.write_bytes(b'{"ID": "abc"}')
    os.utime(str(source), (1000000000, 1100000000))
    evidence = EvidenceDir(str(tmp_path / 'staging'))
    record = evidence.copy_file(str(source), 'containers/abc/config/config.v2.json', 'container_config', 'abc')
    assert open(os.path.join(evidence.path, record['path']), 'rb').read() == b'{"ID": "abc"}'
    assert record['source'] == str(source)
    assert record['source_stat']['mtime'] == '2004-11-09T11:33:20.000000Z'
    assert record['source_stat']['atime'] == '2001-09-09T01:46:40.000000Z'
    assert os.stat(str(source)).st_atime == 1000000000   # the copy did not touch the access time


def test_a_symlink_source_is_refused_and_nothing_written(tmp_path):
    (tmp_path / 'real').write_bytes(b'data')
    os.symlink(str(tmp_path / 'real'), str(tmp_path / 'link'))
    evidence = EvidenceDir(str(tmp_path / 'staging'))
    with pytest.raises(OSError):
        evidence.copy_file(str(tmp_path / 'link'), 'x/link', 'container_config')
    assert files_under(evidence.path) == [] and evidence.records == []


def test_an_existing_artifact_is_never_overwritten(tmp_path):
    evidence = EvidenceDir(str(tmp_path / 'staging'))
    evidence.write_bytes('engine.json', b'first', 'engine_facts')
    with pytest.raises(EvidenceError, match='already exists'):
        evidence.write_bytes('engine.json', b'second', 'engine_facts')
    assert open(os.path.join(evidence.path, 'engine.json'), 'rb').read() == b'first'
    assert len(evidence.records) == 1


@pytest.mark.parametrize('name', ['../escape', '/etc/passwd', 'a//b', 'a/./b', 'a/../../b', ''])
def test_artifact_names_that_would_leave_the_staging_dir_are_refused(tmp_path, name):
    evidence = EvidenceDir(str(tmp_path / 'staging'))
    with pytest.raises(EvidenceError, match='invalid artifact name'):
        evidence.write_bytes(name, b'x', 'container_config')
    assert files_under(str(tmp_path)) == []


def test_a_symlinked_directory_in_the_staging_dir_is_not_written_through(tmp_path):
    evidence = EvidenceDir(str(tmp_path / 'staging'))
    outside = tmp_path / 'outside'
    outside.mkdir()
    os.symlink(str(outside), os.path.join(evidence.path, 'containers'))
    with pytest.raises(EvidenceError, match='not a directory'):
        evidence.write_bytes('containers/abc/inspect.json', b'{}', 'container_inspect')
    assert os.listdir(str(outside)) == []


def test_a_full_disk_leaves_no_partial_file_and_says_the_disk_is_full(tmpfs):
    evidence = EvidenceDir(os.path.join(tmpfs('size=64k'), 'staging'))
    small = evidence.write_bytes('small.json', b'{}', 'engine_facts')
    big = (b'y' * 65536 for _chunk in range(4))   # 256 KiB into 64 KiB
    with pytest.raises(EvidenceError, match='staging disk is full'):
        evidence.write_stream('containers/abc/logs/huge.log', big, 'container_log', 'abc')
    assert files_under(evidence.path) == ['small.json']
    assert not any(name.endswith(PARTIAL_SUFFIX) for name in files_under(evidence.path))
    assert evidence.records == [small]


def test_a_read_only_staging_dir_is_refused_before_anything_is_collected(tmpfs):
    target = tmpfs('size=64k')
    os.mkdir(os.path.join(target, 'staging'))
    subprocess.run(['mount', '-o', 'remount,ro', target], check=True)
    with pytest.raises(EvidenceError, match='cannot be written: Read-only file system'):
        EvidenceDir(os.path.join(target, 'staging'))
    with pytest.raises(EvidenceError, match='cannot be created'):
        EvidenceDir(os.path.join(target, 'missing', 'staging'))


def test_a_relative_staging_dir_is_refused():
    with pytest.raises(EvidenceError, match='absolute path'):
        EvidenceDir('relative/staging')


def test_write_json_is_stable_and_utf8(tmp_path):
    evidence = EvidenceDir(str(tmp_path / 'staging'))
    record = evidence.write_json('doc.json', {'b': 1, 'a': 'caf\u00e9'}, 'engine_facts')
    data = open(os.path.join(evidence.path, record['path']), 'rb').read()
    assert json.loads(data.decode('utf-8')) == {'b': 1, 'a': 'caf\u00e9'}
    assert data.index(b'"a"') < data.index(b'"b"')


# -- a staging dir is never inside a Docker root ------------------------------------------------------


def test_a_staging_dir_that_does_not_exist_yet_is_refused_inside_the_root(tmp_path):
    from ansible_collections.dfir.docker.plugins.module_utils._evidence import refuse_inside_docker_root
    root = tmp_path / 'docker'
    (root / 'containers').mkdir(parents=True)
    target = str(root / 'overlay2' / 'abc' / 'diff' / 'tmp' / 'dfir')
    with pytest.raises(EvidenceError) as caught:
        refuse_inside_docker_root(target, [str(root)])
    assert target in str(caught.value) and str(root) in str(caught.value)
    assert not os.path.exists(str(root / 'overlay2'))
    refuse_inside_docker_root(str(tmp_path / 'staging'), [str(root)])   # beside it: accepted
    refuse_inside_docker_root(str(tmp_path / 'docker-staging'), [str(root)])   # a name sharing the prefix


def test_a_symlink_into_the_root_is_resolved_before_the_check(tmp_path):
    from ansible_collections.dfir.docker.plugins.module_utils._evidence import refuse_inside_docker_root
    root = tmp_path / 'docker'
    root.mkdir()
    os.symlink(str(root), str(tmp_path / 'innocent'))
    with pytest.raises(EvidenceError) as caught:
        refuse_inside_docker_root(str(tmp_path / 'innocent' / 'case' / 'x'), [str(root)])
    assert 'once symlinks are resolved' in str(caught.value)


def test_the_root_holding_a_remapped_root_is_refused_too(tmp_path):
    from ansible_collections.dfir.docker.plugins.module_utils._evidence import docker_root_holding
    remapped = tmp_path / 'docker' / '100000.100000'
    remapped.mkdir(parents=True)
    assert docker_root_holding(str(tmp_path / 'docker' / 'tmp' / 'x'), [str(remapped)]) == str(tmp_path / 'docker')
    assert docker_root_holding(str(remapped / 'x'), [str(remapped)]) == str(remapped)
    assert docker_root_holding(str(tmp_path / 'elsewhere'), [str(remapped)]) is None


def test_no_root_given_refuses_nothing(tmp_path):
    from ansible_collections.dfir.docker.plugins.module_utils._evidence import docker_root_holding
    assert docker_root_holding(str(tmp_path / 'a'), [None, '']) is None


def test_a_bind_mount_of_the_root_elsewhere_is_recognised(tmp_path):
    """The same directory reached through a bind mount has another path but the same device and inode."""
    from ansible_collections.dfir.docker.plugins.module_utils._evidence import docker_root_holding
    root, view = tmp_path / 'docker', tmp_path / 'view'
    root.mkdir()
    view.mkdir()
    subprocess.run(['mount', '--bind', str(root), str(view)], check=True)
    try:
        assert docker_root_holding(str(view / 'case' / 'x'), [str(root)]) == str(root)
    finally:
        subprocess.run(['umount', str(view)], check=True)


def test_a_bind_mount_of_a_directory_inside_the_root_is_recognised(tmp_path):
    """A part of the root (here its volumes) bind-mounted elsewhere: neither its path nor the identity of
    any directory on the way is the root's, but it is the same filesystem below the root."""
    from ansible_collections.dfir.docker.plugins.module_utils._evidence import (
        docker_root_holding,
        refuse_inside_docker_root,
    )
    root, view = tmp_path / 'docker', tmp_path / 'volumes-view'
    (root / 'volumes' / 'data' / '_data').mkdir(parents=True)
    view.mkdir()
    subprocess.run(['mount', '--bind', str(root / 'volumes'), str(view)], check=True)
    try:
        assert docker_root_holding(str(view / 'data' / '_data' / 'case'), [str(root)]) == str(root)
        with pytest.raises(EvidenceError):
            refuse_inside_docker_root(str(view / 'case'), [str(root)])
        assert not os.path.exists(str(view / 'case'))
        # beside the root on the same filesystem: accepted
        assert docker_root_holding(str(tmp_path / 'staging'), [str(root)]) is None
    finally:
        subprocess.run(['umount', str(view)], check=True)


def test_a_staging_dir_with_a_nul_byte_is_refused_with_a_reason_not_a_value_error(tmp_path):
    from ansible_collections.dfir.docker.plugins.module_utils._evidence import refuse_inside_docker_root
    with pytest.raises(EvidenceError) as caught:
        refuse_inside_docker_root(str(tmp_path / 'a\0b'), [str(tmp_path / 'docker')])
    assert 'NUL' in str(caught.value)


def test_a_root_that_is_not_a_path_is_skipped_not_a_type_error(tmp_path):
    """The staging module adds the DockerRootDir a daemon answers, whatever JSON type a broken one sends."""
    from ansible_collections.dfir.docker.plugins.module_utils._evidence import docker_root_holding
    root = tmp_path / 'docker'
    root.mkdir()
    assert docker_root_holding(str(root / 'x'), [5, ['/'], {'a': 1}, str(root)]) == str(root)
    assert docker_root_holding(str(tmp_path / 'x'), [5, True]) is None
