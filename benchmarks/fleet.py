"""Fleet benchmarks, as ratios measured in the same run (lower is better):

- triage: playbooks/triage.yml over SSH on one host holding 50 containers, against the same host
  holding 1 container (wanted: at most 1.5);
- fleet: playbooks/acquire.yml (the role's default dfir_collect) over 4 hosts with forks 4, against the
  same acquisition of 1 host (goal: at most 2.0 on a 2-core machine, where 4 hosts share the cores).

Hosts are real: an sshd on 127.0.0.N paired with its own dockerd (tests/support/fleet.py), reached
as an unprivileged user with sudo. Each measurement is the wall time of the whole ansible-playbook run,
the median of --rounds runs.

    source .venv/dfir-env.sh && python benchmarks/run.py triage|fleet [--rounds 3]
    (or python benchmarks/fleet.py triage|fleet [--rounds 3])

Run as root (it starts sshd and dockerd per host). Addresses 127.0.0.31 and up.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from tests.support.ansible_run import run_playbook  # noqa: E402
from tests.support.dockerd import make_base  # noqa: E402
from tests.support.fleet import Fleet  # noqa: E402
from tests.support.fleet_scenario import plant  # noqa: E402
from tests.support.images import BASE_TAG  # noqa: E402

FIRST_OCTET = 31


class Bench:
    """A fleet, an examiner key and a place for cases; runs playbooks and times them."""

    def __init__(self, hosts):
        self.base = make_base('dfir-bench-fleet-')
        self.fleet = Fleet(self.base, hosts, first_octet=FIRST_OCTET)
        self.key = os.path.join(self.base, 'examiner')
        self.cases = tempfile.mkdtemp(prefix='cases-', dir=self.base)
        self.inventory = os.path.join(self.base, 'inventory.yml')
        self.runs = 0

    def __enter__(self):
        self.fleet.start()
        subprocess.run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', 'bench', '-f', self.key], check=True,
                       stdin=subprocess.DEVNULL)
        return self

    def __exit__(self, *exc_info):
        self.fleet.stop()
        self.fleet.cleanup()

    def timed_run(self, playbook, limit, forks, **variables):
        self.runs += 1
        extra = {'dfir_examiner': 'bench', 'dfir_signing_key': self.key, 'dfir_case_root': self.cases,
                 'dfir_case_id': 'bench-%d' % self.runs}
        extra.update(variables)
        started = time.monotonic()
        rc, output = run_playbook(os.path.join(REPO, 'playbooks', playbook), extra, inventory=self.inventory,
                                  args=['-l', limit, '-f', str(forks)])
        seconds = time.monotonic() - started
        if rc != 0:
            raise SystemExit('%s failed (exit %d):\n%s' % (playbook, rc, output[-3000:]))
        shutil.rmtree(os.path.join(self.cases, extra['dfir_case_id']))
        return seconds


def median_of(rounds, action):
    times = [action() for _round in range(rounds)]
    return statistics.median(times), times


def bench_triage(rounds):
    with Bench(1) as bench:
        host = bench.fleet.hosts[0]
        plant(host)
        host.dockerd.docker('rm', '-f', 'job')  # one container on the host: the running web container
        bench.fleet.write_inventory(bench.inventory)
        one, one_times = median_of(rounds, lambda: bench.timed_run('triage.yml', host.name, 1))
        for number in range(49):  # each changes a file in its layer, as a running service would
            host.dockerd.docker('run', '-d', '--network', 'none', '--stop-timeout', '1', '--name', 'more-%02d' % number,
                                BASE_TAG, 'sh', '-c', 'echo started > /tmp/state; exec sleep 3600')
        many, many_times = median_of(rounds, lambda: bench.timed_run('triage.yml', host.name, 1))
        running = len(host.dockerd.docker('ps', '-aq').split())
    print('triage of one host over SSH (%s), median of %d:' % (host.address, rounds))
    print('  1 container    %7.2f s   %s' % (one, ' '.join('%.2f' % item for item in one_times)))
    print('  %d containers  %7.2f s   %s' % (running, many, ' '.join('%.2f' % item for item in many_times)))
    print('  ratio %d/1     %7.2f   (wanted: at most 1.5)' % (running, many / one))
    return many / one


def bench_fleet(rounds):
    with Bench(4) as bench:
        for host in bench.fleet.hosts:
            plant(host)
        bench.fleet.write_inventory(bench.inventory)
        names = ','.join(host.name for host in bench.fleet.hosts)
        first = bench.fleet.hosts[0].name
        single, fleet, single_times, fleet_times = [], [], [], []
        for _round in range(rounds):  # alternating, so both see the same load of the machine
            single_times.append(bench.timed_run('acquire.yml', first, 4))
            fleet_times.append(bench.timed_run('acquire.yml', names, 4))
        single, fleet = statistics.median(single_times), statistics.median(fleet_times)
    print('acquire.yml (the role\'s default dfir_collect) over SSH, forks 4, median of %d, on %d cores:'
          % (rounds, os.cpu_count()))
    print('  1 host     %7.2f s   %s' % (single, ' '.join('%.2f' % item for item in single_times)))
    print('  4 hosts    %7.2f s   %s' % (fleet, ' '.join('%.2f' % item for item in fleet_times)))
    print('  ratio 4/1  %7.2f   (goal: at most 2.0 on this 2-core machine)' % (fleet / single))
    return fleet / single


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('benchmark', choices=['triage', 'fleet'])
    parser.add_argument('--rounds', type=int, default=3, help='runs per measurement; the median is shown')
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit('run as root: the benchmark starts sshd and dockerd per host')
    {'triage': bench_triage, 'fleet': bench_fleet}[args.benchmark](args.rounds)


if __name__ == '__main__':
    main()
