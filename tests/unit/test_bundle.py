"""Small artifacts in one tar stream: how they are batched, and what the controller keeps of a stream."""

import hashlib
import io
import os
import random
import shutil
import subprocess
import tarfile

import pytest

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
    items = [artifact('a', 1000), artifact('core', 5 << 20), artifact('b', 2000), artifact('c', 3000)]
    room = _bundle.member_bytes('a', 1000) + _bundle.member_bytes('b', 2000)   # a batch holds a and b, not c too
    batches, singles = _bundle.plan(items, small=1 << 20, batch_bytes=room)
    assert [[item['path'] for item in batch] for batch in batches] == [['a', 'b'], ['c']]
    assert [item['path'] for item in singles] == ['core']


def test_a_batch_ends_before_its_names_exceed_one_command_line():
    items = [artifact('x' * 100 + str(index), 1) for index in range(50)]
    batches, _singles = _bundle.plan(items, name_chars=1000)
    assert all(sum(len(item['path']) + 1 for item in batch) <= 1000 for batch in batches)
    assert sum(len(batch) for batch in batches) == 50 and len(batches) > 1


def test_the_host_command_quotes_every_name():
    command = _bundle.tar_command('/var/tmp/dfir docker/case', ["it's", '-x', 'a b'])
    assert command == "tar -C '/var/tmp/dfir docker/case' -cf - -- 'it'\"'\"'s' -x 'a b' | head -c %d" % _bundle.STREAM_BYTES


def test_an_artifact_larger_than_a_batch_may_hold_never_goes_into_one():
    """Even where `small` is above the batch limit: a batch never holds more than its limit."""
    limit = 64 * 1024
    fits = limit - _bundle.member_bytes('fits', 0)            # its data and headers fill a batch exactly
    items = [artifact('before', 10), artifact('over', limit), artifact('fits', fits),
             artifact('just-over', fits + 1), artifact('after', 10)]
    batches, singles = _bundle.plan(items, small=1 << 20, batch_bytes=limit)
    assert [item['path'] for item in singles] == ['over', 'just-over']
    assert [[item['path'] for item in batch] for batch in batches] == [['before'], ['fits'], ['after']]
    for batch in batches:
        assert sum(_bundle.member_bytes(item['path'], item['size']) for item in batch) <= limit


def test_the_default_limits_keep_every_batch_within_32_mib():
    """Thousands of artifacts just under SMALL_ARTIFACT: batches of whole artifacts, each under BATCH_BYTES."""
    items = [artifact('containers/%064d/memory/%d.core' % (index, index), _bundle.SMALL_ARTIFACT) for index in range(40)]
    items += [artifact('big.core', _bundle.SMALL_ARTIFACT + 1)]
    batches, singles = _bundle.plan(items)
    assert _bundle.BATCH_BYTES == 32 << 20 and [item['path'] for item in singles] == ['big.core']
    assert sum(len(batch) for batch in batches) == 40 and len(batches) > 1
    for batch in batches:
        assert sum(item['size'] for item in batch) < _bundle.BATCH_BYTES
        assert sum(_bundle.member_bytes(item['path'], item['size']) for item in batch) <= _bundle.BATCH_BYTES


@pytest.mark.parametrize('size', [None, -1, '10', 1.5, True])
def test_an_artifact_whose_size_is_not_a_byte_count_is_fetched_one_by_one(size):
    items = [artifact('ok', 10), {'path': 'no-size'} if size is None else artifact('odd', size)]
    batches, singles = _bundle.plan(items)
    assert [[item['path'] for item in batch] for batch in batches] == [['ok']]
    assert [item['path'] for item in singles] == [items[1]['path']]


# The hosts' tars: GNU tar (Debian's), and BusyBox's (scripts/bootstrap.sh installs busybox-static).
def tools(kind, tmp_path):
    """A PATH under which `tar` and `head` are GNU's or BusyBox's."""
    if kind == 'gnu':
        return os.environ['PATH']
    bin_dir = tmp_path / 'busybox-bin'
    bin_dir.mkdir()
    for name in ('tar', 'head'):
        os.symlink(shutil.which('busybox'), str(bin_dir / name))
    return str(bin_dir)


@pytest.mark.parametrize('kind', ['gnu', 'busybox'])
def test_a_batch_stream_stays_within_what_plan_counted(tmp_path, kind):
    """Real tar output of each planned batch: no larger than its members' count and the closing record,
    and never cut by the host's limit (every member arrives)."""
    rng = random.Random(7)
    root = tmp_path / 'staging'
    items = []
    for index in range(120):
        name = rng.choice(['c/%064x/inspect.json' % index, 'caf\u00e9-%d' % index, 'n%d' % index,
                           'deep/%s/%d' % ('/'.join(['d' * 80] * rng.randint(1, 4)), index)])
        size = rng.choice([0, 1, 511, 512, 513, rng.randint(0, 30000)])
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(os.urandom(size))
        items.append(artifact(name, size))
    limit = 96 * 1024
    batches, singles = _bundle.plan(items, small=32 * 1024, batch_bytes=limit)
    assert len(batches) > 3 and not singles
    env = dict(os.environ, PATH=tools(kind, tmp_path))
    version = subprocess.run(['/bin/sh', '-c', 'tar --version || tar --help'], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, env=env, check=False).stdout.decode()
    assert ('busybox' in version.lower()) == (kind == 'busybox') and ('GNU tar' in version) == (kind == 'gnu'), version
    for number, batch in enumerate(batches):
        names = [item['path'] for item in batch]
        counted = sum(_bundle.member_bytes(name, item['size']) for name, item in zip(names, batch))
        command = _bundle.tar_command(str(root), names, max_bytes=limit + 2 * _bundle.TAR_RECORD)
        stream = subprocess.run(['/bin/sh', '-c', command], stdout=subprocess.PIPE, env=env, check=True).stdout
        assert counted <= limit and len(stream) <= counted + 2 * _bundle.TAR_RECORD, (number, len(stream), counted)
        out = tmp_path / ('case%d' % number)
        out.mkdir()
        where = dict((name, str(out / ('%d.fetching' % index))) for index, name in enumerate(names))
        assert sorted(_bundle.unpack(stream, where)) == sorted(names)


def test_a_file_larger_than_its_record_is_cut_on_the_host_and_left_to_the_per_file_path(tmp_path):
    """A staged file that grew after it was hashed: the host stops the stream at the limit, so the controller
    never holds more; the members that arrived whole are kept, the rest is fetched one by one (and checked)."""
    root = tmp_path / 'staging'
    root.mkdir()
    (root / 'first').write_bytes(b'small and whole')
    (root / 'grown').write_bytes(os.urandom(300 * 1024))           # the host said 10 bytes
    batches, singles = _bundle.plan([artifact('first', 15), artifact('grown', 10)], batch_bytes=64 * 1024)
    assert [[item['path'] for item in batch] for batch in batches] == [['first', 'grown']] and not singles
    limit = 64 * 1024 + 2 * _bundle.TAR_RECORD
    stream = host_tar(_bundle.tar_command(str(root), ['first', 'grown'], max_bytes=limit))
    assert len(stream) == limit
    where = destinations(tmp_path, ['first', 'grown'])
    assert list(_bundle.unpack(stream, where)) == ['first']
    assert not os.path.exists(where['grown'])
