"""A private dockerd for tests: own data root, exec root, socket and pidfile.

It never touches another engine on the machine, and `stop()` ends exactly
the daemon it started, by its pid.
"""

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time

DOCKERD = shutil.which('dockerd') or '/usr/sbin/dockerd'
DOCKER = '/usr/bin/docker' if os.path.exists('/usr/bin/docker') else shutil.which('docker')


class DockerdError(RuntimeError):
    pass


class Dockerd:
    """One dockerd; `base` holds everything it writes."""

    def __init__(self, base, userns_remap=None, extra_args=(), storage_driver='overlay2'):
        self.base = base
        self.data_root = os.path.join(base, 'root')
        self.exec_root = os.path.join(base, 'exec')
        self.socket = os.path.join(base, 'docker.sock')
        self.pidfile = os.path.join(base, 'dockerd.pid')
        self.log_path = os.path.join(base, 'dockerd.log')
        self.userns_remap = userns_remap
        # overlay2 unless a test needs another driver (vfs, the old overlay) on the same code path.
        self.storage_driver = storage_driver
        self.extra_args = list(extra_args)
        self.process = None

    @property
    def host(self):
        return 'unix://' + self.socket

    def start(self, timeout=60):
        os.makedirs(self.base, exist_ok=True)
        if self.userns_remap:
            # The remapped root user must be able to traverse to its data root (dockerd refuses otherwise).
            os.chmod(self.base, os.stat(self.base).st_mode | 0o011)
        args = [DOCKERD, '--data-root', self.data_root, '--exec-root', self.exec_root,
                '-H', self.host, '--pidfile', self.pidfile, '--bridge', 'none', '--iptables=false',
                '--ip6tables=false', '--storage-driver', self.storage_driver]
        if self.userns_remap:
            args += ['--userns-remap', self.userns_remap]
        args += self.extra_args
        log = open(self.log_path, 'ab')
        self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise DockerdError('dockerd exited with %s; log: %s' % (self.process.returncode, self.tail_log()))
            if os.path.exists(self.socket) and self.ping():
                return self
            time.sleep(0.3)
        self.stop()
        raise DockerdError('dockerd did not answer within %ss; log: %s' % (timeout, self.tail_log()))

    def tail_log(self, lines=20):
        try:
            with open(self.log_path, 'r', errors='replace') as handle:
                return ''.join(handle.readlines()[-lines:])
        except OSError:
            return ''

    def ping(self):
        result = subprocess.run([DOCKER, '-H', self.host, 'version', '--format', '{{.Server.Version}}'],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
        return result.returncode == 0

    def docker(self, *args, check=True, input=None, timeout=600):
        """Run the docker CLI against this daemon; return stdout as text."""
        result = subprocess.run([DOCKER, '-H', self.host] + [str(arg) for arg in args], input=input,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout,
                                env=dict(os.environ, DOCKER_BUILDKIT='0', DOCKER_CLI_HINTS='false'), check=False)
        if check and result.returncode != 0:
            raise DockerdError('docker %s failed (%s): %s' % (' '.join(map(str, args)), result.returncode,
                                                              result.stderr.decode(errors='replace')))
        return result.stdout.decode(errors='replace').strip()

    def inspect(self, ref):
        return json.loads(self.docker('inspect', ref))[0]

    def sdk(self):
        import docker
        return docker.DockerClient(base_url=self.host, version='auto', timeout=60)

    def info(self):
        return json.loads(self.docker('info', '--format', '{{json .}}'))

    def stop(self, timeout=30):
        """Stop the daemon this object started, by its pid, and wait for it."""
        if self.process is None:
            return
        if self.process.poll() is None:
            for container_id in self.docker('ps', '-q', check=False).split():
                # unpause first: a frozen container cannot be stopped
                self.docker('unpause', container_id, check=False)
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self.process = None
        subprocess.run(['sh', '-c', 'grep " %s" /proc/mounts | cut -d" " -f2 | sort -r | xargs -r umount -l'
                        % self.base], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)


def make_base(prefix='dfir-test-'):
    # Under /var/tmp rather than /tmp: overlay2 needs a filesystem with d_type and xattrs.
    return tempfile.mkdtemp(prefix=prefix, dir=os.environ.get('DFIR_TEST_TMP', '/var/tmp'))


def subuid_start(name='dockremap', path='/etc/subuid'):
    """The first subordinate range of `name`: (start, count)."""
    with open(path) as handle:
        for line in handle:
            fields = line.strip().split(':')
            if len(fields) == 3 and fields[0] == name:
                return int(fields[1]), int(fields[2])
    raise AssertionError('no %s range in %s' % (name, path))
