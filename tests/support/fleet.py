"""A fleet of Docker hosts on one machine: an sshd on 127.0.0.N paired with its own dockerd.

Ansible reaches each host over real SSH as an unprivileged login user and
becomes root with sudo, as it would on a real fleet; each host's modules
talk to that host's own daemon through `dfir_docker_host`.  Everything is
stopped by pid in `stop()`.
"""

import os
import pwd
import shutil
import signal
import socket
import subprocess
import time

from tests.support.dockerd import Dockerd

SSHD = '/usr/sbin/sshd'
LOGIN_USER = 'dfir-fleet'


def ensure_login_user():
    """An unprivileged account with passwordless sudo; returns whether this call created it."""
    created = False
    try:
        pwd.getpwnam(LOGIN_USER)
    except KeyError:
        subprocess.run(['useradd', '--create-home', '--shell', '/bin/sh', LOGIN_USER], check=True)
        created = True
    # '*': no password, but not locked; sshd refuses keys for a locked ('!') account without PAM.
    subprocess.run(['usermod', '-p', '*', LOGIN_USER], check=True)
    with open('/etc/sudoers.d/dfir-fleet', 'w') as handle:
        handle.write('%s ALL=(ALL) NOPASSWD: ALL\n' % LOGIN_USER)
    os.chmod('/etc/sudoers.d/dfir-fleet', 0o440)
    return created


def descendants(pid):
    """PIDs of every process below `pid` (children first, then theirs), read from /proc."""
    children = {}
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            with open('/proc/%s/stat' % entry) as handle:
                parent = int(handle.read().rsplit(')', 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile
        children.setdefault(parent, []).append(int(entry))
    found, queue = [], list(children.get(pid, []))
    while queue:
        child = queue.pop(0)
        found.append(child)
        queue.extend(children.get(child, []))
    return found


def end_processes(pids, timeout=10):
    """SIGTERM each pid (ours: sessions our sshd forked), then SIGKILL what is left after `timeout`."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except OSError:
            pass
    deadline = time.time() + timeout
    while time.time() < deadline and any(os.path.exists('/proc/%d' % pid) for pid in pids):
        time.sleep(0.1)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def remove_login_user():
    for path in ('/etc/sudoers.d/dfir-fleet',):
        if os.path.exists(path):
            os.unlink(path)
    subprocess.run(['userdel', '--remove', LOGIN_USER], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)


class FleetHost:
    """One host: sshd on its own loopback address, its own dockerd."""

    def __init__(self, name, address, base, client_public_key):
        self.name = name
        self.address = address
        self.base = base
        self.client_public_key = client_public_key
        self.dockerd = Dockerd(os.path.join(base, 'docker'))
        self.sshd_dir = os.path.join(base, 'sshd')
        self.sshd_pidfile = os.path.join(self.sshd_dir, 'sshd.pid')
        self.sshd_process = None
        self.evidence_dir = os.path.join(base, 'staging')
        os.makedirs(base, exist_ok=True)
        os.chmod(base, 0o711)

    def start_sshd(self, port=22):
        os.makedirs(self.sshd_dir, mode=0o755, exist_ok=True)
        os.makedirs('/run/sshd', mode=0o755, exist_ok=True)
        host_key = os.path.join(self.sshd_dir, 'ssh_host_ed25519_key')
        if not os.path.exists(host_key):
            subprocess.run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-f', host_key], check=True)
        authorized = os.path.join(self.sshd_dir, 'authorized_keys')
        with open(authorized, 'w') as handle:
            handle.write(self.client_public_key + '\n')
        os.chmod(authorized, 0o644)
        config = os.path.join(self.sshd_dir, 'sshd_config')
        with open(config, 'w') as handle:
            handle.write('\n'.join([
                'ListenAddress %s:%d' % (self.address, port),
                'HostKey %s' % host_key,
                'PidFile %s' % self.sshd_pidfile,
                'AuthorizedKeysFile %s' % authorized,
                'PasswordAuthentication no',
                'KbdInteractiveAuthentication no',
                'PermitRootLogin no',
                'AllowUsers %s' % LOGIN_USER,
                'UsePAM no',
                'StrictModes no',
                'Subsystem sftp /usr/lib/openssh/sftp-server',
                'LogLevel ERROR',
            ]) + '\n')
        self.port = port
        self.sshd_process = subprocess.Popen([SSHD, '-D', '-e', '-f', config], stdout=subprocess.DEVNULL,
                                             stderr=open(os.path.join(self.sshd_dir, 'sshd.log'), 'ab'),
                                             start_new_session=True)
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.sshd_process.poll() is not None:
                raise RuntimeError('sshd for %s exited with %s' % (self.name, self.sshd_process.returncode))
            try:
                with socket.create_connection((self.address, port), timeout=1):
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError('sshd for %s did not listen on %s:%d' % (self.name, self.address, port))

    def stop_sshd(self):
        """Stop this host's sshd and end the sessions it forked (Ansible's ControlPersist keeps them open),
        by pid: the host can no longer be reached, as if it went down."""
        if self.sshd_process is None:
            return
        sessions = descendants(self.sshd_process.pid)
        if self.sshd_process.poll() is None:
            self.sshd_process.send_signal(signal.SIGTERM)
            self.sshd_process.wait(timeout=10)
        end_processes(sessions)
        self.sshd_process = None

    def start(self):
        self.dockerd.start()
        self.start_sshd()
        return self

    def stop(self):
        self.stop_sshd()
        self.dockerd.stop()

    def inventory_vars(self, private_key):
        return {
            'ansible_host': self.address,
            'ansible_port': self.port,
            'ansible_user': LOGIN_USER,
            'ansible_ssh_private_key_file': private_key,
            'ansible_ssh_common_args': '-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null',
            'ansible_become_method': 'sudo',
            'ansible_python_interpreter': '/usr/bin/python3',
            'dfir_docker_host': self.dockerd.host,
            'dfir_evidence_dir': self.evidence_dir,
        }


class Fleet:
    """N hosts on 127.0.0.2, 127.0.0.3, ... with one client key for the controller."""

    def __init__(self, base, count, first_octet=2):
        self.base = base
        os.makedirs(base, exist_ok=True)
        # The login user must be able to reach each host's staging dir below, as under /var/tmp.
        os.chmod(base, 0o711)
        self.client_key = os.path.join(base, 'controller_key')
        if not os.path.exists(self.client_key):
            subprocess.run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-f', self.client_key], check=True)
        with open(self.client_key + '.pub') as handle:
            public_key = handle.read().strip()
        self.created_user = False
        self.hosts = [FleetHost('docker%d' % (index + 1), '127.0.0.%d' % (first_octet + index),
                                os.path.join(base, 'host%d' % (index + 1)), public_key)
                      for index in range(count)]

    def start(self):
        self.created_user = ensure_login_user()
        try:
            for host in self.hosts:
                host.start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self):
        for host in self.hosts:
            try:
                host.stop()
            except Exception:  # noqa: B902 - stop the others whatever happens to one
                pass
        if self.created_user:
            remove_login_user()
            self.created_user = False

    def write_inventory(self, path, extra_hosts=None, host_vars=None):
        """An INI-free YAML inventory: group docker_hosts with every host's connection vars.

        `extra_hosts` adds hosts ({name: vars}); `host_vars` adds vars to fleet hosts ({name: vars}).
        """
        import yaml
        hosts = dict((host.name, host.inventory_vars(self.client_key)) for host in self.hosts)
        for name, variables in (host_vars or {}).items():
            hosts[name].update(variables)
        hosts.update(extra_hosts or {})
        with open(path, 'w') as handle:
            yaml.safe_dump({'docker_hosts': {'hosts': hosts}}, handle, sort_keys=True)
        return path

    def host(self, name):
        return next(host for host in self.hosts if host.name == name)

    def cleanup(self):
        shutil.rmtree(self.base, ignore_errors=True)
