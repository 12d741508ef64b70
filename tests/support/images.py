"""Images built offline: a busybox-static base imported as a tarball, then real `docker build` layers."""

import io
import os
import subprocess
import tarfile
import tempfile

BUSYBOX = '/bin/busybox'
BASE_TAG = 'dfir-test/base:1'

PASSWD = (b'root:x:0:0:root:/root:/bin/sh\n'
          b'daemon:x:1:1:daemon:/usr/sbin:/bin/false\n'
          b'app:x:1001:1001:app user:/home/app:/bin/sh\n'
          b'nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n')
GROUP = b'root:x:0:\ndaemon:x:1:\napp:x:1001:\nnogroup:x:65534:\n'


def applets():
    out = subprocess.run([BUSYBOX, '--list'], stdout=subprocess.PIPE, check=True).stdout.decode()
    return [name for name in out.split() if name and name != 'busybox']


def base_rootfs_tar():
    """A minimal root filesystem as tar bytes: busybox, its applets, passwd and group."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode='w', format=tarfile.PAX_FORMAT) as tar:
        def add_dir(name, mode=0o755):
            info = tarfile.TarInfo(name)
            info.type = tarfile.DIRTYPE
            info.mode = mode
            tar.addfile(info)

        def add_file(name, data, mode=0o644):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = mode
            tar.addfile(info, io.BytesIO(data))

        for directory in ('bin', 'etc', 'root', 'home', 'home/app', 'var', 'var/log', 'usr', 'usr/bin', 'proc', 'sys', 'dev'):
            add_dir(directory, 0o700 if directory == 'root' else 0o755)
        add_dir('tmp', 0o1777)
        with open(BUSYBOX, 'rb') as handle:
            add_file('bin/busybox', handle.read(), 0o755)
        for name in applets():
            info = tarfile.TarInfo('bin/' + name)
            info.type = tarfile.SYMTYPE
            info.linkname = 'busybox'
            tar.addfile(info)
        add_file('etc/passwd', PASSWD)
        add_file('etc/group', GROUP)
        add_file('etc/hostname', b'base\n')
    return buffer.getvalue()


def ensure_base(dockerd, tag=BASE_TAG):
    if dockerd.docker('images', '-q', tag):
        return tag
    dockerd.docker('import', '-c', 'CMD ["/bin/sh"]', '-c', 'ENV PATH=/bin:/usr/bin', '-', tag, input=base_rootfs_tar())
    return tag


def build(dockerd, tag, dockerfile, files=None):
    """`docker build --network none` from a Dockerfile text and extra context files."""
    with tempfile.TemporaryDirectory(prefix='dfir-ctx-') as context:
        with open(os.path.join(context, 'Dockerfile'), 'w') as handle:
            handle.write(dockerfile)
        for name, data in (files or {}).items():
            path = os.path.join(context, name)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, 'wb') as handle:
                handle.write(data if isinstance(data, bytes) else data.encode())
        dockerd.docker('build', '--network', 'none', '-q', '-t', tag, context)
    return tag
