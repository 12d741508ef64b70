"""A fleet of Docker hosts on one machine: an sshd on 127.0.0.N paired with its own dockerd.

Ansible reaches each host over real SSH as an unprivileged login user and
becomes root with sudo, as it would on a real fleet; each host's modules
talk to that host's own daemon through `dfir_docker_host`.

Everything is stopped by pid in `stop()`, and nothing a session started may
outlive it. Each sshd runs as a child subreaper (prctl PR_SET_CHILD_SUBREAPER,
kept across its exec): a process a session leaves behind (Ansible's
async_wrapper daemonizes its jobs; sudo and sshd call setsid) is re-parented
to that sshd, not to init, so the sshd's process tree holds every process its
sessions started. Stopping a host freezes its sshd (SIGSTOP: no new session),
ends that tree, then the sshd; then the controller's ssh clients of that
host (Ansible's ControlPersist masters, found by their control socket in the
host's own control path dir or their TCP connection to the host's address).

Molecule's fleet scenarios use the same code from the command line:
  python -m tests.support.fleet exec-subreaper PROGRAM [ARG...]
  python -m tests.support.fleet stop-sshd --pidfile P --config C --address A --port N --control-dir D
"""

import argparse
import glob
import os
import pwd
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time

from tests.support.dockerd import Dockerd

SSHD = '/usr/sbin/sshd'
LOGIN_USER = 'dfir-fleet'
PR_SET_CHILD_SUBREAPER = 36


def ensure_login_user():
    """An unprivileged account with passwordless sudo; returns whether this call created it."""
    created = False
    try:
        pwd.getpwnam(LOGIN_USER)
    except KeyError:
        # No subordinate uid/gid range (useradd takes the first free one by default): the login user needs none, and
        # a range taken here would move the one a userns-remap daemon's dockremap user gets later.
        subprocess.run(['useradd', '--create-home', '--shell', '/bin/sh', '-K', 'SUB_UID_COUNT=0', '-K', 'SUB_GID_COUNT=0',
                        LOGIN_USER], check=True)
        created = True
    # '*': no password, but not locked; sshd refuses keys for a locked ('!') account without PAM.
    subprocess.run(['usermod', '-p', '*', LOGIN_USER], check=True)
    with open('/etc/sudoers.d/dfir-fleet', 'w') as handle:
        handle.write('%s ALL=(ALL) NOPASSWD: ALL\n' % LOGIN_USER)
    os.chmod('/etc/sudoers.d/dfir-fleet', 0o440)
    return created


# --- processes, read from /proc -----------------------------------------------------------

def proc_stat(pid):
    """(ppid, state, start time in clock ticks) of a process, or None when it is gone."""
    try:
        with open('/proc/%s/stat' % pid) as handle:
            fields = handle.read().rsplit(')', 1)[1].split()
        return int(fields[1]), fields[0], int(fields[19])
    except (OSError, IndexError, ValueError):
        return None


def alive(pid):
    """Whether the process runs: it exists and is not a zombie waiting for its parent."""
    stat = proc_stat(pid)
    return stat is not None and stat[1] not in ('Z', 'X')


def process_table():
    """{pid: ppid} of every process."""
    table = {}
    for entry in os.listdir('/proc'):
        if entry.isdigit():
            stat = proc_stat(entry)
            if stat is not None:
                table[int(entry)] = stat[0]
    return table


def descendants(pid):
    """PIDs of every process below `pid` (children first, then theirs), read from /proc."""
    children = {}
    for child, parent in process_table().items():
        children.setdefault(parent, []).append(child)
    found, queue = [], list(children.get(pid, []))
    while queue:
        child = queue.pop(0)
        found.append(child)
        queue.extend(children.get(child, []))
    return found


def cmdline(pid):
    try:
        with open('/proc/%s/cmdline' % pid, 'rb') as handle:
            return handle.read().replace(b'\0', b' ').decode('utf-8', 'replace').strip()
    except OSError:
        return ''


def comm(pid):
    try:
        with open('/proc/%s/comm' % pid) as handle:
            return handle.read().strip()
    except OSError:
        return ''


def socket_owners(inodes):
    """PIDs of the processes holding any of these socket inodes open."""
    wanted = set('socket:[%d]' % inode for inode in inodes)
    owners = set()
    if not wanted:
        return owners
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            fds = os.listdir('/proc/%s/fd' % entry)
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink('/proc/%s/fd/%s' % (entry, fd)) in wanted:
                    owners.add(int(entry))
                    break
            except OSError:
                continue
    return owners


def tcp_client_inodes(address, port):
    """Inodes of the IPv4 TCP sockets whose remote end is address:port (this network namespace)."""
    remote = '%08X:%04X' % (struct.unpack('=I', socket.inet_aton(address))[0], port)
    inodes = set()
    with open('/proc/net/tcp') as handle:
        next(handle)
        for line in handle:
            fields = line.split()
            if len(fields) > 9 and fields[2] == remote:
                inodes.add(int(fields[9]))
    inodes.discard(0)  # TIME_WAIT: no process holds it
    return inodes


def unix_socket_inodes(directory):
    """Inodes of the unix sockets bound to a path in `directory`."""
    prefix = directory.rstrip('/') + '/'
    inodes = set()
    with open('/proc/net/unix') as handle:
        next(handle)
        for line in handle:
            fields = line.split(None, 7)
            if len(fields) == 8 and fields[7].rstrip('\n').startswith(prefix):
                inodes.add(int(fields[6]))
    return inodes


def ssh_clients(address, port, control_dir=None):
    """The ssh client processes of one host: connected to address:port, or a master whose control
    socket is in `control_dir` (Ansible's ControlPersist masters)."""
    inodes = tcp_client_inodes(address, port)
    if control_dir:
        inodes |= unix_socket_inodes(control_dir)
    return sorted(pid for pid in socket_owners(inodes) if pid != os.getpid() and comm(pid) == 'ssh')


def end_processes(pids, timeout=10):
    """SIGTERM each pid (processes of this fleet, found by pid), then SIGKILL what is left after `timeout`."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except OSError:
            pass
    deadline = time.time() + timeout
    while time.time() < deadline and any(alive(pid) for pid in pids):
        time.sleep(0.1)
    for pid in pids:
        if alive(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


def end_tree(root, grace=10, timeout=30):
    """End every process below `root` (a stopped child subreaper, so nothing below it can escape): SIGTERM
    each one as it is found, SIGKILL whatever is still there after `grace` seconds, until none runs.

    SIGTERM first: a module's handler thaws the containers it froze, and its thaw guard (which
    ignores SIGTERM) ends by itself once the module is gone. Returns the pids still running after
    `timeout` seconds (none, unless a process is stuck in the kernel)."""
    started = time.time()
    terminated = set()
    while True:
        running = [pid for pid in descendants(root) if alive(pid)]
        if not running or time.time() - started > timeout:
            return running
        hard = time.time() - started > grace
        for pid in running:
            if hard or pid not in terminated:
                try:
                    os.kill(pid, signal.SIGKILL if hard else signal.SIGTERM)
                except OSError:
                    pass
                terminated.add(pid)
        time.sleep(0.1)


def wait_gone(pid, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline and alive(pid):
        time.sleep(0.1)
    return not alive(pid)


def _signal(pid, signum):
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


def stop_sshd_tree(pid, address, port, control_dir=None, grace=10):
    """Stop one sshd (a child subreaper) and everything it started, then the controller's ssh clients of
    that host. Returns what is still running afterwards (an empty list when everything ended)."""
    clients = ssh_clients(address, port, control_dir)
    left = []
    try:
        # Frozen, it forks no new session while its tree is ended, and still adopts what a session leaves.
        _signal(pid, signal.SIGSTOP)
        left = end_tree(pid, grace=grace)
    finally:
        _signal(pid, signal.SIGTERM)
        _signal(pid, signal.SIGCONT)
    if not wait_gone(pid, 10):
        _signal(pid, signal.SIGKILL)
        wait_gone(pid, 10)
    # The clients see the connection drop and exit; a master that lingers is ended by its pid.
    clients = sorted(set(clients) | set(ssh_clients(address, port, control_dir)))
    deadline = time.time() + 5
    while time.time() < deadline and any(alive(client) for client in clients):
        time.sleep(0.1)
    end_processes([client for client in clients if alive(client)])
    return [item for item in left + clients + [pid] if alive(item)]


# Run by the interpreter before sshd replaces it (same pid): the subreaper flag survives the exec.
SUBREAPER_EXEC = """
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(%d, 1, 0, 0, 0) != 0:
    sys.exit('cannot make %%s a child subreaper: %%s' %% (sys.argv[1], os.strerror(ctypes.get_errno())))
os.execv(sys.argv[1], sys.argv[1:])
""" % PR_SET_CHILD_SUBREAPER


def subreaper_command(argv):
    """A command line that runs `argv` (same pid, after an exec) as a child subreaper."""
    return [sys.executable, '-c', SUBREAPER_EXEC] + list(argv)


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
        # Ansible's ControlPersist masters for this host put their sockets here (ansible_control_path_dir),
        # not in the controller's ~/.ansible/cp: stop() finds them by these sockets.
        self.control_dir = os.path.join(base, 'cp')
        self.port = None
        os.makedirs(base, exist_ok=True)
        os.chmod(base, 0o711)
        os.makedirs(self.control_dir, mode=0o700, exist_ok=True)

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
        log = os.path.join(self.sshd_dir, 'sshd.log')
        with open(log, 'ab') as stderr:
            self.sshd_process = subprocess.Popen(subreaper_command([SSHD, '-D', '-e', '-f', config]),
                                                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr,
                                                 start_new_session=True)
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.sshd_process.poll() is not None:
                with open(log, errors='replace') as handle:
                    tail = handle.read()[-2000:]
                raise RuntimeError('sshd for %s exited with %s: %s' % (self.name, self.sshd_process.returncode, tail))
            try:
                with socket.create_connection((self.address, port), timeout=1):
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError('sshd for %s did not listen on %s:%d' % (self.name, self.address, port))

    def stop_sshd(self):
        """Stop this host's sshd and everything its sessions started (a command cut mid-way, a detached
        async job, the sessions Ansible's ControlPersist keeps open), then the controller's ssh clients of
        this host, by pid: the host can no longer be reached, as if it went down."""
        if self.sshd_process is None:
            return
        process, self.sshd_process = self.sshd_process, None
        left = []
        if process.poll() is None:
            left = stop_sshd_tree(process.pid, self.address, self.port, self.control_dir)
        process.wait(timeout=10)
        if left:
            raise RuntimeError('%s: processes still running after its sshd was stopped: %s'
                               % (self.name, ', '.join('%d (%s)' % (pid, cmdline(pid)[:200]) for pid in left)))

    def start(self):
        self.dockerd.start()
        self.start_sshd()
        return self

    def stop(self):
        try:
            self.stop_sshd()
        finally:
            self.dockerd.stop()

    def inventory_vars(self, private_key):
        return {
            'ansible_host': self.address,
            'ansible_port': self.port,
            'ansible_user': LOGIN_USER,
            'ansible_ssh_private_key_file': private_key,
            'ansible_ssh_common_args': '-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null',
            'ansible_control_path_dir': self.control_dir,
            'ansible_become_method': 'sudo',
            'ansible_python_interpreter': '/usr/bin/python3',
            'dfir_docker_host': self.dockerd.host,
            'dfir_evidence_dir': self.evidence_dir,
        }


# Where a module run as root on a fleet host unpacks itself while it runs (removed when it ends normally).
MODULE_PAYLOADS = '/tmp/ansible_*_payload_*'


class Fleet:
    """N hosts on 127.0.0.2, 127.0.0.3, ... with one client key for the controller."""

    def __init__(self, base, count, first_octet=2):
        self.base = base
        self.payloads_before = None   # set by start(): what stop() must leave alone
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
        self.payloads_before = set(glob.glob(MODULE_PAYLOADS))
        try:
            for host in self.hosts:
                host.start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self):
        """Stop every host (see FleetHost.stop_sshd), then remove the login user if start() made it.
        Raises, after stopping all of them, when a process a host started is still running."""
        errors = []
        for host in self.hosts:
            try:
                host.stop()
            except Exception as exc:  # noqa: B902 - stop the others whatever happens to one
                errors.append('%s: %s' % (host.name, exc))
        if self.created_user:
            remove_login_user()
            self.created_user = False
        # A module cut mid-way with its host (a test that takes a host down) leaves its unpacked payload in
        # /tmp, as sudo passes no TMPDIR; the hosts are this machine, and those payloads go with the fleet.
        if self.payloads_before is not None:
            for path in set(glob.glob(MODULE_PAYLOADS)) - self.payloads_before:
                shutil.rmtree(path, ignore_errors=True)
        if errors:
            raise RuntimeError('the fleet did not stop cleanly: %s' % '; '.join(errors))

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


def _stop_sshd_command(args):
    """stop-sshd: the molecule scenarios' way to stop one host, checked to be that host's sshd first."""
    try:
        with open(args.pidfile) as handle:
            pid = int(handle.read().strip())
    except (OSError, ValueError):
        print('nothing to stop: %s holds no pid' % args.pidfile)
        return 0
    if not alive(pid) or comm(pid) != 'sshd' or args.config not in cmdline(pid).split():
        print('nothing to stop: pid %d is not the sshd of %s' % (pid, args.config))
        return 0
    left = stop_sshd_tree(pid, args.address, args.port, args.control_dir)
    if left:
        named = ', '.join('%d (%s)' % (item, cmdline(item)[:200]) for item in left)
        print('still running after sshd %d was stopped: %s' % (pid, named), file=sys.stderr)
        return 1
    print('stopped sshd %d, every process its sessions started and the ssh clients of %s:%d' % (pid, args.address, args.port))
    return 0


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ['exec-subreaper']:
        if len(argv) < 2 or not os.path.isabs(argv[1]):
            print('usage: python -m tests.support.fleet exec-subreaper /ABSOLUTE/PROGRAM [ARG...]', file=sys.stderr)
            return 2
        command = subreaper_command(argv[1:])
        os.execv(command[0], command)
    parser = argparse.ArgumentParser(prog='python -m tests.support.fleet',
                                     description='Stop a fleet host started under exec-subreaper, by pid.')
    commands = parser.add_subparsers(dest='command', required=True)
    stop = commands.add_parser('stop-sshd', help='stop an sshd, everything its sessions started, and its ssh clients')
    stop.add_argument('--pidfile', required=True, help="the sshd's PidFile")
    stop.add_argument('--config', required=True, help='its sshd_config: the pid must be an sshd run with it')
    stop.add_argument('--address', required=True, help='the IPv4 address it listens on')
    stop.add_argument('--port', type=int, default=22)
    stop.add_argument('--control-dir', help="the host's ansible_control_path_dir (ControlPersist masters)")
    return _stop_sshd_command(parser.parse_args(argv))


if __name__ == '__main__':
    sys.exit(main())
