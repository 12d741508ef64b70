"""Images for filesystem evidence, built offline with known ground truth.

- `fs_base`: the busybox base of `images.py` plus what `docker build` cannot make from a context:
  a file with a `security.capability` attribute, a file with a nanosecond mtime, and the
  container's own /etc/shadow. Imported with `docker import`, which applies both.
- `layered`: an image of many layers loaded with `docker load` from a tarball written here
  (docker-save layout), each layer a tar whose SHA-256, its diff id, the test knows.
"""

import hashlib
import io
import json
import tarfile

from tests.support.images import base_rootfs_tar

# struct vfs_cap_data, revision 2, effective bit set, permitted = CAP_NET_RAW (13)
CAP_NET_RAW = (b'\x01\x00\x00\x02' + (1 << 13).to_bytes(4, 'little') + b'\0' * 12)
SHADOW = b'root:$6$container$notthehostsshadow:19000:0:99999:7:::\n'
NANO_MTIME = (1700000000, 123456789)


def _pax_member(name, data, mode=0o644, xattrs=None, mtime=None):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = mode
    if mtime is not None:
        info.mtime = mtime[0]
        info.pax_headers['mtime'] = '%d.%09d' % mtime
    for attr, value in (xattrs or {}).items():
        info.pax_headers['SCHILY.xattr.' + attr] = value.decode('utf-8', 'surrogateescape')
    return info, io.BytesIO(data)


def fs_base_rootfs_tar():
    base = tarfile.open(fileobj=io.BytesIO(base_rootfs_tar()))
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode='w', format=tarfile.PAX_FORMAT) as tar:
        for member in base:
            tar.addfile(member, base.extractfile(member) if member.isreg() else None)
        for info, data in (
                _pax_member('usr/bin/capped', b'#!/bin/sh\necho capped\n', 0o755, {'security.capability': CAP_NET_RAW}),
                _pax_member('etc/shadow', SHADOW, 0o600),
                _pax_member('etc/nanotime', b'nanoseconds\n', 0o644, mtime=NANO_MTIME)):
            tar.addfile(info, data)
    return out.getvalue()


def ensure_fs_base(dockerd, tag='dfir-test/fs-base:1'):
    if not dockerd.docker('images', '-q', tag):
        dockerd.docker('import', '-c', 'CMD ["/bin/sh"]', '-c', 'ENV PATH=/bin:/usr/bin', '-', tag,
                       input=fs_base_rootfs_tar())
    return tag


def _layer_tar(files):
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode='w', format=tarfile.PAX_FORMAT) as tar:
        for name, data in files:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 1700000000
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def layered_image_tar(tag, layer_files):
    """A `docker load` tarball: the busybox base, then one layer per entry of `layer_files`.

    Returns (tarball bytes, list of diff ids oldest first, base layer included).
    """
    layers = [base_rootfs_tar()] + [_layer_tar(files) for files in layer_files]
    diff_ids = ['sha256:' + hashlib.sha256(layer).hexdigest() for layer in layers]
    history = [{'created': '2026-01-01T00:00:00Z', 'created_by': 'dfir-test layer %d' % index}
               for index in range(len(layers))]
    config = json.dumps({
        'architecture': 'amd64', 'os': 'linux', 'created': '2026-01-01T00:00:00Z',
        'config': {'Cmd': ['/bin/sh'], 'Env': ['PATH=/bin:/usr/bin']},
        'rootfs': {'type': 'layers', 'diff_ids': diff_ids},
        'history': history,
    }, sort_keys=True).encode()
    config_name = hashlib.sha256(config).hexdigest() + '.json'
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode='w') as tar:
        def add(name, data):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        names = []
        for index, layer in enumerate(layers):
            name = 'layer%03d/layer.tar' % index
            add(name, layer)
            names.append(name)
        add(config_name, config)
        add('manifest.json', json.dumps([{'Config': config_name, 'RepoTags': [tag], 'Layers': names}]).encode())
    return out.getvalue(), diff_ids


def hundred_layer_files(count=100):
    """Layer N writes /fN; the last two also write /f, "one" then "two"."""
    files = [[('f%d' % number, b'%d\n' % number)] for number in range(1, count + 1)]
    files[-2].append(('f', b'one\n'))
    files[-1].append(('f', b'two\n'))
    return files


def ensure_layered(dockerd, tag, layer_files):
    data, diff_ids = layered_image_tar(tag, layer_files)
    if not dockerd.docker('images', '-q', tag):
        dockerd.docker('load', '-q', input=data)
    return tag, diff_ids
