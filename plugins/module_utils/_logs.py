# -*- coding: utf-8 -*-
# Copyright: dfir.docker contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where a container's logs are on disk, by logging driver.

Private to the collection.  Pure: lists files (O_NOATIME), reads nothing.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re
import stat

from ansible_collections.dfir.docker.plugins.module_utils._safe_io import list_dir

# Drivers that keep the log in files under the container's directory.
FILE_DRIVERS = ('json-file', 'local')

# Where the other drivers send the log; Docker 20.10+ may still keep a local
# cache of it ("dual logging"), which is collected when present.
ELSEWHERE = {
    'none': 'logging is disabled for this container (log driver none): nothing was kept',
    'journald': 'the log went to the host journal: journalctl CONTAINER_ID=<id> on the host',
    'syslog': 'the log went to syslog (see the syslog-address log option)',
    'gelf': 'the log went to a GELF endpoint (see the gelf-address log option)',
    'fluentd': 'the log went to fluentd (see the fluentd-address log option)',
    'awslogs': 'the log went to Amazon CloudWatch Logs',
    'splunk': 'the log went to Splunk',
    'etwlogs': 'the log went to Windows ETW',
    'gcplogs': 'the log went to Google Cloud Logging',
    'logentries': 'the log went to Logentries',
}


def _rotation(name, base):
    """0 for the live file, N for base.N and base.N.gz; None when not a log of `base`."""
    match = re.match(r'^%s(?:\.(\d+))?(\.gz)?$' % re.escape(base), name)
    if not match or (match.group(2) and not match.group(1)):
        return None
    return int(match.group(1) or 0)


def _is_regular(path):
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def _rotated_set(directory, base, kind):
    try:
        names = list_dir(directory)   # O_NOATIME: listing the directory leaves its atime as found
    except OSError:
        return []
    found = []
    for name in names:
        rotation = _rotation(name, base)
        if rotation is None:
            continue
        path = os.path.join(directory, name)
        if _is_regular(path):
            found.append({'path': path, 'name': name, 'kind': kind, 'rotation': rotation,
                          'compressed': name.endswith('.gz')})
    return sorted(found, key=lambda item: item['rotation'])


def log_files(container_dir, container_id):
    """Every log file of a container on disk, live file first, then older rotations.

    Only the container's own directory is listed.  Docker writes the json-file log
    there and nowhere else (its LogPath is <container dir>/<id>-json.log, set anew at
    each start); a LogPath elsewhere in a config is no reason to read another
    directory, which on a mounted disk would be the examiner's own machine.
    """
    files = []
    files.extend(_rotated_set(container_dir, '%s-json.log' % container_id, 'container_log'))
    local_dir = os.path.join(container_dir, 'local-logs')
    files.extend(_rotated_set(local_dir, 'container.log', 'container_log_local'))
    files.extend(_rotated_set(container_dir, 'container-cached.log', 'container_log_cache'))
    files.extend(_rotated_set(local_dir, 'container-cached.log', 'container_log_cache'))
    return files


def recorded_log_elsewhere(container_dir, log_file):
    """A note when the log file a config records is not in the container's directory, else None.

    `log_file` is the recorded LogPath as mapped onto the tree being read.  The path is
    compared as written (normalised, `..` resolved textually), never looked up.
    """
    if not log_file:
        return None
    if os.path.normpath(os.path.dirname(log_file)) == os.path.normpath(container_dir):
        return None
    return ('the config records the log file %s, outside the container\'s directory %s, where Docker writes it; '
            'that path was not read, the container\'s directory was' % (log_file, container_dir))


def where_logs_went(log_driver):
    """A sentence for a driver that keeps nothing readable on disk, else None."""
    if not log_driver or log_driver in FILE_DRIVERS:
        return None
    return ELSEWHERE.get(log_driver, 'the log went to the %s logging driver, outside this host\'s files' % log_driver)
