"""Benchmarks, one command each, ratios measured in the same run against a baseline.

    source .venv/dfir-env.sh
    python benchmarks/run.py export            # 1 GiB in 10,000 files, and 2x that
    python benchmarks/run.py whiteouts         # 100,000 entries and 1,000 whiteouts (see benchmarks/whiteouts.py)
    python benchmarks/run.py triage            # triage over SSH, 50 containers / 1 (see benchmarks/fleet.py)
    python benchmarks/run.py fleet             # acquire over SSH, 4 hosts with forks 4 / 1 host (benchmarks/fleet.py)
    python benchmarks/run.py volatile          # memory dump against gcore, process map against docker top
    python benchmarks/run.py all               # every one of them, in this order

`export`: `container_export mode=merged` (from the layers on disk, through Ansible, the
module run by Debian's /usr/bin/python3) writing a tar and its SHA-256, against
`docker export CID | tee OUT.tar | sha256sum > OUT.tar.sha256`, the daemon's own export
written to a file and hashed. Both read the same container on a private dockerd started here;
each is run `--rounds` times, alternating, after one untimed `docker export` that warms the
page cache for both. Reported: the median wall time of each, their ratio (module / baseline),
the module's peak RSS, and the same for a container with twice the data.

The module makes its tar durable (fsync) before it records it; the plain baseline does not,
so the same baseline followed by `sync OUT.tar` is measured too and both ratios are shown.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from tests.support.ansible_run import ansible_env  # noqa: E402
from tests.support.dockerd import DOCKER, Dockerd, make_base  # noqa: E402
from tests.support.images import BASE_TAG, build, ensure_base  # noqa: E402

MEASURED_PYTHON = os.path.join(REPO, 'benchmarks', 'measured_python')
FILE_SIZE = 107375          # 10,000 files of this size make 1 GiB
FILES_PER_DIR = 100


def fill_command(directory, files):
    """A busybox shell command that writes `files` random files of FILE_SIZE into `directory`/<n>/."""
    dirs = files // FILES_PER_DIR
    return ('for d in $(seq 1 %d); do mkdir -p %s/$d; for f in $(seq 1 %d); do '
            'head -c %d /dev/urandom > %s/$d/$f; done; done' % (dirs, directory, FILES_PER_DIR, FILE_SIZE, directory))


def make_containers(daemon, files):
    """An image with half of the 1x data in a layer; two containers adding the rest in their writable layer."""
    half = files // 2
    image = build(daemon, 'dfir-bench/data:1', 'FROM %s\nRUN %s\n' % (BASE_TAG, fill_command('/image-data', half)))
    containers = {}
    for name, upper_files in (('1x', files - half), ('2x', 2 * files - half)):
        container = daemon.docker('run', '-d', '--name', 'bench-' + name, '--network', 'none', image, 'sh', '-c',
                                  fill_command('/container-data', upper_files), timeout=1800)
        if daemon.docker('wait', container, timeout=1800) != '0':
            raise SystemExit('filling container %s failed: %s' % (name, daemon.docker('logs', container, check=False)))
        containers[name] = container
    return containers


def timed(command, env=None):
    started = time.monotonic()
    subprocess.run(command, shell=isinstance(command, str), check=True, env=env, stdout=subprocess.DEVNULL,
                   stderr=subprocess.PIPE)
    return time.monotonic() - started


def baseline(daemon, container, out_dir, sync):
    target = os.path.join(out_dir, 'docker-export.tar')
    command = '%s -H %s export %s | tee %s | sha256sum > %s.sha256' % (DOCKER, daemon.host, container, target, target)
    if sync:
        command += ' && sync %s' % target
    seconds = timed(command)
    size = os.path.getsize(target)
    os.unlink(target)
    os.unlink(target + '.sha256')
    return seconds, size


def module(daemon, container, out_dir):
    staging = os.path.join(out_dir, 'staging')
    measure = os.path.join(out_dir, 'measure.json')
    args = {'docker_host': daemon.host, 'evidence_dir': staging, 'containers': [container], 'mode': 'merged'}
    command = [os.path.join(os.path.dirname(sys.executable), 'ansible'), 'localhost', '-c', 'local',
               '-e', 'ansible_python_interpreter=%s' % MEASURED_PYTHON,
               '-m', 'dfir.docker.container_export', '-a', json.dumps(args)]
    env = ansible_env({'ANSIBLE_STDOUT_CALLBACK': 'ansible.builtin.minimal', 'ANSIBLE_NOCOLOR': '1',
                       'DFIR_BENCH_MEASURE': measure})
    started = time.monotonic()
    process = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, check=False)
    total = time.monotonic() - started
    text = process.stdout.decode(errors='replace')
    result = json.loads(text[text.find(' => ') + 4:])
    if process.returncode != 0 or ' | FAILED!' in text:
        raise SystemExit('container_export failed: %s' % result.get('msg'))
    with open(measure) as handle:
        measured = json.load(handle)
    record = [item for item in result['artifacts'] if item['path'].endswith('/merged.tar')][0]
    tar_path = os.path.join(staging, record['path'])
    check = subprocess.run(['sha256sum', tar_path], stdout=subprocess.PIPE, check=True).stdout.split()[0].decode()
    if check != record['sha256']:
        raise SystemExit('the recorded SHA-256 %s is not the tar\'s %s' % (record['sha256'], check))
    shutil.rmtree(staging)
    return {'seconds': measured['seconds'], 'ansible_seconds': total, 'max_rss_mib': measured['max_rss_kib'] / 1024.0,
            'size': record['size'], 'entries': record['entries']}


def bench_export(args):
    base = make_base('dfir-bench-')
    out_dir = tempfile.mkdtemp(prefix='dfir-bench-out-', dir=args.out_dir)
    daemon = Dockerd(base)
    daemon.start()
    report = {}
    try:
        ensure_base(daemon)
        started = time.monotonic()
        containers = make_containers(daemon, args.files)
        print('data ready in %.0f s' % (time.monotonic() - started), flush=True)
        for name, container in sorted(containers.items()):
            timed('%s -H %s export %s > /dev/null' % (DOCKER, daemon.host, container))  # warm the page cache
            plain, synced, ours = [], [], []
            for _round in range(args.rounds):
                plain.append(baseline(daemon, container, out_dir, sync=False))
                ours.append(module(daemon, container, out_dir))
                synced.append(baseline(daemon, container, out_dir, sync=True))
            median_ours = statistics.median(item['seconds'] for item in ours)
            median_plain = statistics.median(seconds for seconds, _size in plain)
            median_synced = statistics.median(seconds for seconds, _size in synced)
            report[name] = {
                'container': container,
                'module_tar_bytes': ours[0]['size'], 'module_entries': ours[0]['entries'],
                'docker_export_tar_bytes': plain[0][1],
                'module_seconds': [round(item['seconds'], 2) for item in ours],
                'module_seconds_with_ansible': [round(item['ansible_seconds'], 2) for item in ours],
                'baseline_seconds': [round(seconds, 2) for seconds, _size in plain],
                'baseline_sync_seconds': [round(seconds, 2) for seconds, _size in synced],
                'ratio': round(median_ours / median_plain, 3),
                'ratio_vs_synced_baseline': round(median_ours / median_synced, 3),
                'module_peak_rss_mib': round(max(item['max_rss_mib'] for item in ours), 1),
            }
            print('%s: %s' % (name, json.dumps(report[name], indent=1)), flush=True)
    finally:
        daemon.stop()
        shutil.rmtree(base, ignore_errors=True)
        shutil.rmtree(out_dir, ignore_errors=True)
    print('\nsummary (module = container_export mode=merged from disk; baseline = docker export | tee | sha256sum)')
    for name in sorted(report):
        item = report[name]
        print('  %s: %d entries, %.2f GiB tar: module %.2f s, baseline %.2f s (synced %.2f s), ratio %.2f '
              '(vs synced %.2f), module peak RSS %.1f MiB' % (
                  name, item['module_entries'], item['module_tar_bytes'] / 1024.0 ** 3,
                  statistics.median(item['module_seconds']), statistics.median(item['baseline_seconds']),
                  statistics.median(item['baseline_sync_seconds']), item['ratio'], item['ratio_vs_synced_baseline'],
                  item['module_peak_rss_mib']))
    return report


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('benchmark', choices=['export', 'whiteouts', 'volatile', 'triage', 'fleet', 'all'])
    parser.add_argument('--mib', type=int, default=256, help='volatile: memory the dumped process holds (MiB)')
    parser.add_argument('--files', type=int, default=10000, help='files of %d bytes in the 1x container' % FILE_SIZE)
    parser.add_argument('--entries', type=int, default=100000, help='whiteouts: entries of the writable layer')
    parser.add_argument('--whiteouts', type=int, default=1000, help='whiteouts: image files the container deletes')
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--out-dir', default=os.environ.get('DFIR_TEST_TMP', '/var/tmp'),
                        help='where the tars are written (default /var/tmp)')
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit('run as root: the benchmark starts its own dockerd')
    chosen = ['export', 'whiteouts', 'volatile', 'triage', 'fleet'] if args.benchmark == 'all' else [args.benchmark]
    for name in chosen:
        print('\n===== benchmark %s =====' % name, flush=True)
        if name == 'whiteouts':
            from benchmarks.whiteouts import bench_whiteouts
            bench_whiteouts(args)
        elif name == 'volatile':
            from benchmarks.volatile import bench_volatile
            bench_volatile(args)
        elif name in ('triage', 'fleet'):
            from benchmarks.fleet import bench_fleet, bench_triage
            {'triage': bench_triage, 'fleet': bench_fleet}[name](args.rounds)
        else:
            bench_export(args)


if __name__ == '__main__':
    main()
