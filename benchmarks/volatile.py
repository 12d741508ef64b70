"""Volatile evidence against its baselines, as ratios (lower is faster):

- a memory dump by process_memory's core (hashed while written, fsync'd, through EvidenceDir)
  against gdb's `gcore` on the same process;
- a process map of one container (every process from /proc, ids both ways, names)
  against `docker top` on a private dockerd.

    sudo .venv/bin/python benchmarks/volatile.py [--mib 256] [--rounds 3]

Run as root (it reads other processes' memory and starts its own dockerd).
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
sys.path.insert(0, os.path.join(REPO, '.venv', 'collections'))

from ansible_collections.dfir.docker.plugins.module_utils._evidence import EvidenceDir  # noqa: E402
from ansible_collections.dfir.docker.plugins.module_utils._memory import MemoryDump, host_arch  # noqa: E402
from ansible_collections.dfir.docker.plugins.module_utils._process_map import (  # noqa: E402
    ContainerView,
    HostAccounts,
    HostProcesses,
    ProcessDescriber,
    container_record,
)
from ansible_collections.dfir.docker.plugins.module_utils._sources import Target  # noqa: E402
from tests.support.dockerd import Dockerd, make_base  # noqa: E402
from tests.support.images import BASE_TAG, ensure_base  # noqa: E402

# A process holding `mib` MiB of touched memory (every page written once).
HOLDER = 'import sys, time\nb = bytearray(int(sys.argv[1]) << 20)\nb[::4096] = b"\\1" * (len(b) // 4096)\nprint("ready", flush=True)\ntime.sleep(3600)\n'


def timed(action, rounds):
    times = []
    for _round in range(rounds):
        started = time.monotonic()
        action()
        times.append(time.monotonic() - started)
    return statistics.median(times)


def bench_memory(mib, rounds, work):
    holder = subprocess.Popen([sys.executable, '-c', HOLDER, str(mib)], stdout=subprocess.PIPE)
    try:
        holder.stdout.readline()
        counter = [0]
        sizes = {}

        def ours():
            counter[0] += 1
            evidence = EvidenceDir(os.path.join(work, 'ours-%d' % counter[0]))
            with MemoryDump(holder.pid) as dump:
                dump.prepare(host_arch())
                with evidence.artifact('%d.core' % holder.pid, 'process_core') as writer:
                    dump.stream(writer.write)
            sizes['ours'] = writer.size
            shutil.rmtree(evidence.path)

        def gcore():
            prefix = os.path.join(work, 'gcore')
            subprocess.run(['gcore', '-o', prefix, str(holder.pid)], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, check=True)
            path = '%s.%d' % (prefix, holder.pid)
            sizes['gcore'] = os.path.getsize(path)
            os.unlink(path)

        ours_time = timed(ours, rounds)
        gcore_time = timed(gcore, rounds)
    finally:
        holder.kill()
        holder.wait()
    return ours_time, gcore_time, sizes


def bench_process_map(rounds):
    daemon = Dockerd(make_base('dfir-bench-'))
    daemon.start()
    try:
        ensure_base(daemon)
        name = 'bench-map'
        daemon.docker('run', '-d', '--name', name, '--network', 'none', BASE_TAG, 'sh', '-c',
                      'for i in 1 2 3 4 5 6 7 8; do sleep 1d & done; su app -c "sleep 1d" & exec sleep 1d')
        time.sleep(1)
        processes = []

        def ours():
            target = Target('api', daemon.host)
            facts, _errors, _disagreements = target.containers()
            by_id = dict((item['id'], item) for item in facts)
            host = HostProcesses(by_id)
            views = dict((cid, ContainerView(item, host)) for cid, item in by_id.items())
            describer = ProcessDescriber(host, views, HostAccounts())
            view = next(view for view in views.values() if view.facts['name'] == name)
            record, _notes = container_record(view, describer)
            processes[:] = record['processes']

        def docker_top():
            daemon.docker('top', name)

        ours_time = timed(ours, rounds)
        top_time = timed(docker_top, rounds)
        daemon.docker('rm', '-f', name, check=False)
    finally:
        daemon.stop()
        shutil.rmtree(daemon.base, ignore_errors=True)
    return ours_time, top_time, len(processes)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--mib', type=int, default=256, help='memory the dumped process holds (MiB)')
    parser.add_argument('--rounds', type=int, default=3, help='rounds per measurement; the median is shown')
    bench_volatile(parser.parse_args())


def bench_volatile(args):
    if os.geteuid() != 0:
        sys.exit('run as root: it reads other processes\' memory and starts its own dockerd')
    work = tempfile.mkdtemp(prefix='dfir-bench-', dir='/var/tmp')
    try:
        ours, gcore, sizes = bench_memory(args.mib, args.rounds, work)
        print('memory dump, %d MiB process, median of %d:' % (args.mib, args.rounds))
        print('  process_memory core  %7.3f s  %12d bytes  %6.1f MiB/s' % (ours, sizes['ours'], sizes['ours'] / ours / 2 ** 20))
        print('  gcore (baseline)     %7.3f s  %12d bytes  %6.1f MiB/s' % (gcore, sizes['gcore'], sizes['gcore'] / gcore / 2 ** 20))
        print('  ratio ours/gcore     %7.2f' % (ours / gcore))
        mapped, top, count = bench_process_map(args.rounds)
        print('process map of one container (%d processes), median of %d:' % (count, args.rounds))
        print('  process_map core     %7.3f s' % mapped)
        print('  docker top (baseline)%7.3f s' % top)
        print('  ratio ours/docker top%7.2f' % (mapped / top))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == '__main__':
    main()
