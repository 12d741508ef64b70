"""Small artifacts in one tar stream: how they are batched, and what the controller keeps of a stream."""

import hashlib
import io
import os
import subprocess
import tarfile

from ansible_collections.dfir.docker.plugins.plugin_utils import _bundle

# Names an artifact may have: a container id path, spaces, a leading dash, a quote, non-ASCII.
NAMES = [
    'containers/%s/inspect.json' % ('a' * 64),
    'containers/%s/logs/%s-json.log' % ('b' * 64, 'b' * 64),   # longer than tar's 100-byte name field
    'with space.txt',
    '-dash-first',
    "quote'in name",
    'caf\u00e9.json',
]


def staged(tmp_path):
    """A staging dir holding one file per name of NAMES; returns (dir, {name: sha256})."""
    root = tmp_path / 'staging'
    expected = {}
    for index, name in enumerate(NAMES):
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        data = ('artifact %d: %s\n' % (index, name)).encode() * (index + 1)
        path.write_bytes(data)
        expected[name] = (hashlib.sha256(data).hexdigest(), len(data))
    return str(root), expected


def host_tar(command):
    """Run the command the controller sends to a host, with the host's own tar; return its stdout."""
    return subprocess.run(['sh', '-c', command], stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False).stdout


def destinations(tmp_path, names):
    out = tmp_path / 'case'
    out.mkdir(exist_ok=True)
    return dict((name, str(out / ('%d.fetching' % index))) for index, name in enumerate(names))


def test_gnu_tar_output_unpacks_to_the_same_bytes_for_every_name(tmp_path):
    root, expected = staged(tmp_path)
    where = destinations(tmp_path, NAMES)
    received = _bundle.unpack(host_tar(_bundle.tar_command(root, NAMES)), where)
    assert received == expected
    for name, path in where.items():
        with open(path, 'rb') as handle:
            assert hashlib.sha256(handle.read()).hexdigest() == expected[name][0]


def test_a_missing_file_is_left_out_and_the_others_arrive(tmp_path):
    root, expected = staged(tmp_path)
    asked = NAMES[:2] + ['vanished.txt'] + NAMES[2:]
    received = _bundle.unpack(host_tar(_bundle.tar_command(root, asked)), destinations(tmp_path, asked))
    assert sorted(received) == sorted(NAMES)
    assert 'vanished.txt' not in received


def tar_of(members):
    """A tar made in memory: (name, bytes) for a file, (name, None, target) for a symlink."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode='w') as archive:
        for member in members:
            info = tarfile.TarInfo(member[0])
            if member[1] is None:
                info.type = tarfile.SYMTYPE
                info.linkname = member[2]
                archive.addfile(info)
            else:
                info.size = len(member[1])
                archive.addfile(info, io.BytesIO(member[1]))
    return buffer.getvalue()


def test_members_not_asked_for_repeated_or_not_regular_files_are_ignored(tmp_path):
    stream = tar_of([('wanted', b'first'), ('extra', b'not asked for'), ('wanted', b'second copy'),
                     ('link', None, '/etc/shadow'), ('./dotted', b'dot slash')])
    where = destinations(tmp_path, ['wanted', 'link', 'dotted'])
    received = _bundle.unpack(stream, where)
    assert received == {'wanted': (hashlib.sha256(b'first').hexdigest(), 5),
                        'dotted': (hashlib.sha256(b'dot slash').hexdigest(), 9)}
    assert not os.path.lexists(where['link'])
    assert sorted(os.listdir(str(tmp_path / 'case'))) == sorted(os.path.basename(where[name]) for name in ('wanted', 'dotted'))


def test_a_stream_cut_short_keeps_only_whole_members(tmp_path):
    big = os.urandom(20000)
    stream = tar_of([('first', b'complete'), ('second', big)])
    cut = stream[:512 + 512 + 512 + 4096]   # the first member whole, the second cut inside its data
    where = destinations(tmp_path, ['first', 'second'])
    received = _bundle.unpack(cut, where)
    assert list(received) == ['first']
    assert not os.path.exists(where['second'])


def test_garbage_is_not_a_tar_and_nothing_is_written(tmp_path):
    where = destinations(tmp_path, ['anything'])
    assert _bundle.unpack(b'sudo: a password is required\n', where) == {}
    assert _bundle.unpack(b'', where) == {}
    assert os.listdir(str(tmp_path / 'case')) == []


def artifact(name, size):
    return {'path': name, 'size': size}


def test_large_artifacts_are_fetched_one_by_one_and_small_ones_batched_in_order():
    items = [artifact('a', 10), artifact('core', 5 << 20), artifact('b', 20), artifact('c', 30)]
    batches, singles = _bundle.plan(items, small=1 << 20, batch_bytes=45)
    assert [[item['path'] for item in batch] for batch in batches] == [['a', 'b'], ['c']]
    assert [item['path'] for item in singles] == ['core']


def test_a_batch_ends_before_its_names_exceed_one_command_line():
    items = [artifact('x' * 100 + str(index), 1) for index in range(50)]
    batches, _singles = _bundle.plan(items, name_chars=1000)
    assert all(sum(len(item['path']) + 1 for item in batch) <= 1000 for batch in batches)
    assert sum(len(batch) for batch in batches) == 50 and len(batches) > 1


def test_the_host_command_quotes_every_name():
    command = _bundle.tar_command('/var/tmp/dfir docker/case', ["it's", '-x', 'a b'])
    assert command == "tar -C '/var/tmp/dfir docker/case' -cf - -- 'it'\"'\"'s' -x 'a b'"
