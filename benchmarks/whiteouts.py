"""The whiteouts benchmark, run as `python benchmarks/run.py whiteouts` (see run.py).

A stopped container on a private dockerd whose writable layer holds --entries entries (directories
and empty files it made) and --whiteouts deletion markers (it deleted that many files of its image).
Measured in the same run, alternating, after one untimed pass of each that warms the page cache:

- baseline: `find <upperdir> -type c`, which lists the same directories and finds the same devices;
- the module: `whiteouts layers=[container]` through Ansible (module run by Debian's /usr/bin/python3),
  writing whiteouts.jsonl with the SHA-256 of every deleted file; its own `timings.scan` (the walk
  that finds the markers, what `find` does) and its whole process on the host, timed around the
  interpreter by benchmarks/measured_python (Python start, Ansible's module wrapper, the scan, what
  every marker hides and the hashing, the JSON Lines artifact, fsync); not the controller's ansible.

Reported: the median of each, the ratios scan / find and whole module / find, and the module's
peak RSS. `container_changes` on the same layer is timed once more, for information.
"""

import json
import os
import shutil
import stat
import statistics
import subprocess
import sys
import tempfile
import time

from benchmarks.run import MEASURED_PYTHON, timed
from tests.support.ansible_run import ansible_env
from tests.support.dockerd import Dockerd, make_base
from tests.support.images import BASE_TAG, build, ensure_base

VICTIM_DIRS = 10
DATA_FILES_PER_DIR = 99


def image_dockerfile(whiteouts):
    per_dir = whiteouts // VICTIM_DIRS
    return ('FROM %s\nRUN mkdir /victim && for d in $(seq 1 %d); do mkdir /victim/$d; for f in $(seq 1 %d); do '
            'echo "$d.$f" > /victim/$d/$f; done; done\n' % (BASE_TAG, VICTIM_DIRS, per_dir))


def container_command(entries, whiteouts):
    per_dir = whiteouts // VICTIM_DIRS
    dirs = -(-entries // (DATA_FILES_PER_DIR + 1))
    return ('for d in $(seq 1 %d); do for f in $(seq 1 %d); do rm /victim/$d/$f; done; done; '
            'for d in $(seq 1 %d); do mkdir -p /data/$d; for f in $(seq 1 %d); do : > /data/$d/$f; done; done'
            % (VICTIM_DIRS, per_dir, dirs, DATA_FILES_PER_DIR))


def count_entries(directory):
    """(entries, whiteout devices) of a layer directory, counted here."""
    total = devices = 0
    for parent, dirnames, filenames in os.walk(directory):
        total += len(dirnames) + len(filenames)
        for name in filenames:
            st = os.lstat(os.path.join(parent, name))
            if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                devices += 1
    return total, devices


def run_module_measured(name, args, out_dir):
    measure = os.path.join(out_dir, 'measure.json')
    command = [os.path.join(os.path.dirname(sys.executable), 'ansible'), 'localhost', '-c', 'local',
               '-e', 'ansible_python_interpreter=%s' % MEASURED_PYTHON,
               '-m', 'dfir.docker.%s' % name, '-a', json.dumps(args)]
    env = ansible_env({'ANSIBLE_STDOUT_CALLBACK': 'ansible.builtin.minimal', 'ANSIBLE_NOCOLOR': '1',
                       'DFIR_BENCH_MEASURE': measure})
    process = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, check=False)
    text = process.stdout.decode(errors='replace')
    result = json.loads(text[text.find(' => ') + 4:])
    if process.returncode != 0 or ' | FAILED!' in text:
        raise SystemExit('%s failed: %s' % (name, result.get('msg')))
    with open(measure) as handle:
        measured = json.load(handle)
    return result, measured


def whiteouts_round(daemon, container, out_dir):
    staging = os.path.join(out_dir, 'staging')
    args = {'docker_host': daemon.host, 'evidence_dir': staging, 'containers': [container], 'layers': ['container']}
    result, measured = run_module_measured('whiteouts', args, out_dir)
    outcome = result['containers'][0]
    record = [item for item in result['artifacts'] if item['path'].endswith('/whiteouts.jsonl')][0]
    shutil.rmtree(staging)
    return {'scan_seconds': outcome['timings']['scan'], 'analysis_seconds': outcome['timings']['analysis'],
            'module_seconds': measured['seconds'],
            'max_rss_mib': measured['max_rss_kib'] / 1024.0, 'markers': outcome['counts']['markers'],
            'entries_scanned': outcome['counts']['entries_scanned'], 'hidden_files': outcome['counts']['hidden_files'],
            'jsonl_bytes': record['size']}


def bench_whiteouts(args):
    base = make_base('dfir-bench-')
    out_dir = tempfile.mkdtemp(prefix='dfir-bench-out-', dir=args.out_dir)
    daemon = Dockerd(base)
    daemon.start()
    try:
        ensure_base(daemon)
        started = time.monotonic()
        image = build(daemon, 'dfir-bench/victims:1', image_dockerfile(args.whiteouts))
        container = daemon.docker('run', '-d', '--network', 'none', image, 'sh', '-c',
                                  container_command(args.entries, args.whiteouts), timeout=3600)
        if daemon.docker('wait', container, timeout=3600) != '0':
            raise SystemExit('filling the container failed: %s' % daemon.docker('logs', container, check=False))
        upper = daemon.inspect(container)['GraphDriver']['Data']['UpperDir']
        entries, devices = count_entries(upper)
        print('layer ready in %.0f s: %d entries, %d whiteouts in %s' % (time.monotonic() - started, entries, devices,
                                                                         upper), flush=True)
        find = 'find %s -type c > /dev/null' % upper
        timed(find)
        whiteouts_round(daemon, container, out_dir)   # warm both
        finds, ours = [], []
        for _round in range(args.rounds):
            finds.append(timed(find))
            ours.append(whiteouts_round(daemon, container, out_dir))
        changes_result, changes_measured = run_module_measured(
            'container_changes', {'docker_host': daemon.host, 'containers': [container],
                                  'evidence_dir': os.path.join(out_dir, 'changes')}, out_dir)
        shutil.rmtree(os.path.join(out_dir, 'changes'), ignore_errors=True)
    finally:
        daemon.stop()
        shutil.rmtree(base, ignore_errors=True)
        shutil.rmtree(out_dir, ignore_errors=True)
    find_median = statistics.median(finds)
    scan_median = statistics.median(item['scan_seconds'] for item in ours)
    module_median = statistics.median(item['module_seconds'] for item in ours)
    report = {
        'entries': entries, 'whiteouts': devices,
        'markers_found': ours[0]['markers'], 'entries_scanned': ours[0]['entries_scanned'],
        'hidden_files_hashed': ours[0]['hidden_files'], 'jsonl_bytes': ours[0]['jsonl_bytes'],
        'find_seconds': [round(value, 3) for value in finds],
        'scan_seconds': [item['scan_seconds'] for item in ours],
        'analysis_seconds': [item['analysis_seconds'] for item in ours],
        'module_seconds': [round(item['module_seconds'], 3) for item in ours],
        'ratio_scan_vs_find': round(scan_median / find_median, 2),
        'ratio_module_vs_find': round(module_median / find_median, 2),
        'module_peak_rss_mib': round(max(item['max_rss_mib'] for item in ours), 1),
        'container_changes_seconds': round(changes_measured['seconds'], 3),
        'container_changes_peak_rss_mib': round(changes_measured['max_rss_kib'] / 1024.0, 1),
        'container_changes_counts': dict((key, changes_result['containers'][0]['counts'][key]) for key in 'ACD'),
    }
    print(json.dumps(report, indent=1))
    print('\nsummary: %d entries, %d whiteouts: find -type c %.3f s; whiteouts scan %.3f s (ratio %.2f), whole module '
          '%.3f s (ratio %.2f, the module process on the host: Python start and module wrapper included, '
          'the controller side not; every deleted file hashed); peak RSS %.1f MiB'
          % (entries, devices, find_median, scan_median, report['ratio_scan_vs_find'], module_median,
             report['ratio_module_vs_find'], report['module_peak_rss_mib']))
    return report
