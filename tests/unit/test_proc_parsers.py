"""Parsers of /proc files, and reading a real process that ends under us."""

import os
import subprocess
import time

import pytest

from ansible_collections.dfir.docker.plugins.module_utils._proc import (
    Process,
    ProcessGone,
    id_quad,
    int_list,
    parse_boot_time,
    parse_ns_link,
    parse_stat,
    parse_status,
    split_cmdline,
    start_time,
)
from ansible_collections.dfir.docker.plugins.module_utils._userns import daemon_serves, parse_daemon_args, remap_names

STATUS = ('Name:\tsleep\nState:\tZ (zombie)\nTgid:\t12471\nPPid:\t12470\nUid:\t0\t1001\t2\t3\n'
          'Gid:\t100000\t100000\t100000\t100000\nGroups:\t10 20 \nNSpid:\t12471\t9\nThreads:\t1\n')


def test_status_fields_and_the_four_ids():
    status = parse_status(STATUS)
    assert status['State'] == 'Z (zombie)'
    assert int_list(status['NSpid']) == [12471, 9]
    assert id_quad(int_list(status['Uid'])) == {'real': 0, 'effective': 1001, 'saved': 2, 'fs': 3}
    assert int_list(status['Groups']) == [10, 20]
    assert int_list(parse_status('Name:\tx\n').get('NSpid')) == []


def test_stat_survives_a_command_name_with_spaces_and_parentheses():
    line = '4242 (evil) (x) S) R 1 4242 4242 0 -1 4194560 1 2 3 4 5 6 7 8 20 -5 3 0 156475 2322432 385 ' + ' '.join(['0'] * 30)
    parsed = parse_stat(line)
    assert parsed['pid'] == 4242
    assert parsed['comm'] == 'evil) (x) S'
    assert parsed['state'] == 'R'
    assert parsed['ppid'] == 1
    assert parsed['utime'] == 5 and parsed['stime'] == 6
    assert parsed['nice'] == -5 and parsed['num_threads'] == 3
    assert parsed['start_ticks'] == 156475


def test_namespace_links_give_their_inode():
    assert parse_ns_link('pid:[4026532177]') == 4026532177
    with pytest.raises(ValueError):
        parse_ns_link('/not/a/namespace')


def test_cmdline_is_split_losslessly():
    assert split_cmdline(b'sh\0-c\0echo hi\0') == ['sh', '-c', 'echo hi']
    assert split_cmdline(b'') == []
    # A process may rewrite its argv without NULs, with newlines or bytes that are not UTF-8.
    assert split_cmdline(b'[kworker]\nfake\xff') == ['[kworker]\\nfake\\xff']


def test_start_time_is_boot_time_plus_ticks_in_utc():
    assert parse_boot_time('cpu 1 2 3\nbtime 1796313987\nprocesses 5\n') == 1796313987
    # date -u -d @1796315551.75 -> 2026-12-03T16:32:31.75
    assert start_time(156475, 1796313987, 100) == '2026-12-03T16:32:31.750000Z'
    assert start_time(None, 1796313987, 100) is None


def test_a_process_that_ends_between_two_reads_is_gone_not_an_error():
    child = subprocess.Popen(['sleep', '60'])
    try:
        process = Process(child.pid)
        assert process.stat()['comm'] == 'sleep'
    finally:
        child.kill()
        child.wait()
    try:
        with pytest.raises(ProcessGone, match='host PID %d ended while its status was being read' % child.pid):
            process.status()
    finally:
        process.close()


def test_a_pid_that_does_not_exist_is_gone():
    unused = max(int(name) for name in os.listdir('/proc') if name.isdigit()) + 100000
    with pytest.raises(ProcessGone, match='no process with host PID %d' % unused):
        Process(unused)


def test_the_fd_of_a_process_never_reads_a_newer_process_with_the_same_pid():
    child = subprocess.Popen(['sleep', '60'])
    process = Process(child.pid)
    child.kill()
    child.wait()
    time.sleep(0.05)
    try:
        assert not process.still_same(0)
        with pytest.raises(ProcessGone):
            process.read('cmdline')
    finally:
        process.close()


def test_daemon_flags_in_every_spelling():
    args = parse_daemon_args(['/usr/sbin/dockerd', '-H', 'unix:///run/a.sock', '--host=tcp://0:2375', '-Hfd://',
                              '--data-root', '/srv/docker', '--userns-remap=default', '--config-file', '/etc/d.json'])
    assert args['host'] == ['unix:///run/a.sock', 'tcp://0:2375', 'fd://']
    assert args['data_root'] == '/srv/docker'
    assert args['userns_remap'] == 'default'
    assert args['config_file'] == '/etc/d.json'
    assert daemon_serves(args, '/run/a.sock')
    assert daemon_serves(args, '/var/run/docker.sock')
    assert not daemon_serves(parse_daemon_args(['dockerd', '-H', 'unix:///x.sock']), '/var/run/docker.sock')
    assert daemon_serves(parse_daemon_args(['dockerd']), '/var/run/docker.sock')


def test_remap_settings_name_user_and_group():
    assert remap_names('default') == ('dockremap', 'dockremap')
    assert remap_names('alice') == ('alice', 'alice')
    assert remap_names('alice:staff') == ('alice', 'staff')
    assert remap_names(None) == (None, None)
