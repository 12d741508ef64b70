"""Read a tar (a file or a stream) into a comparable index: one dict per entry, contents hashed."""

import hashlib
import os
import subprocess
import tarfile

from tests.support.dockerd import DOCKER


def _pax_ns(value):
    seconds, _dot, fraction = value.partition('.')
    negative = seconds.startswith('-')
    total = abs(int(seconds)) * 1000000000 + int((fraction + '000000000')[:9])
    return -total if negative else total


def index_tar(fileobj, stream=False):
    """{name bytes (no trailing '/'): entry} for every member; regular files carry their SHA-256."""
    entries = {}
    with tarfile.open(fileobj=fileobj, mode='r|' if stream else 'r:') as archive:
        for member in archive:
            digest = None
            if member.isreg():
                digest = hashlib.sha256()
                handle = archive.extractfile(member)
                for block in iter(lambda: handle.read(1 << 20), b''):
                    digest.update(block)
                digest = digest.hexdigest()
            pax = member.pax_headers
            entry = {
                'type': member.type if member.type != tarfile.CONTTYPE else tarfile.REGTYPE,
                'mode': member.mode & 0o7777,
                'uid': member.uid,
                'gid': member.gid,
                'uname': member.uname,
                'mtime': int(member.mtime // 1) if member.mtime >= 0 else int(member.mtime),
                'mtime_ns': _pax_ns(pax['mtime']) if 'mtime' in pax else int(member.mtime) * 1000000000,
                'linkname': os.fsencode(member.linkname),
                'size': member.size if member.isreg() else 0,
                'sha256': digest,
                'device': (member.devmajor, member.devminor) if member.ischr() or member.isblk() else None,
                'capability': pax['SCHILY.xattr.security.capability'].encode('utf-8', 'surrogateescape')
                if 'SCHILY.xattr.security.capability' in pax else None,
                'sparse': member.sparse,
                'pax': dict(pax),
            }
            entries[os.fsencode(member.name).rstrip(b'/')] = entry
    return entries


def index_file(path):
    with open(path, 'rb') as handle:
        return index_tar(handle)


def index_docker_export(dockerd, container):
    """`docker export` of a container through the CLI, indexed as it streams (never written to disk)."""
    process = subprocess.Popen([DOCKER, '-H', dockerd.host, 'export', container], stdout=subprocess.PIPE)
    try:
        return index_tar(process.stdout, stream=True)
    finally:
        process.stdout.close()
        if process.wait() != 0:
            raise AssertionError('docker export %s failed' % container)


# What both `docker export` and our tar must agree on, entry by entry.
COMPARED = ('type', 'mode', 'uid', 'gid', 'mtime', 'linkname', 'size', 'sha256', 'device', 'capability')


def differences(left, right, keys=COMPARED):
    """Entries that differ between two indexes: {name: (left subset, right subset)}."""
    found = {}
    for name in sorted(set(left) | set(right)):
        a = left.get(name)
        b = right.get(name)
        a = None if a is None else dict((key, a[key]) for key in keys)
        b = None if b is None else dict((key, b[key]) for key in keys)
        if a != b:
            found[name] = (a, b)
    return found
