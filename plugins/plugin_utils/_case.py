# -*- coding: utf-8 -*-
# Copyright: dfir.docker contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The sealed case on the controller: layout, hashes, custody log, manifest.

Private to the collection; controller side only, no Ansible import.

    <case_root>/<case_id>/
      manifest.json  manifest.json.sig  SHA256SUMS  custody.jsonl
      hosts/<inventory_hostname>/collection.json   what was collected and checked
      hosts/<inventory_hostname>/engine.json
      hosts/<inventory_hostname>/containers/<full container id>/...
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import getpass
import hashlib
import json
import os
import re
import socket
import stat

MANIFEST = 'manifest.json'
SIGNATURE = 'manifest.json.sig'
SUMS = 'SHA256SUMS'
CUSTODY = 'custody.jsonl'
COLLECTION = 'collection.json'
HOSTS_DIR = 'hosts'
CHUNK_SIZE = 1024 * 1024
# The files of the seal itself: not listed inside the manifest they make up.
SEAL_FILES = (MANIFEST, SIGNATURE, SUMS)
CASE_ID = re.compile(r'^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$')


class CaseError(Exception):
    """The case cannot be opened, filled, sealed or verified; the message says why."""


class NotInCase(CaseError):
    """A name that does not reach a regular file inside the case (absolute, "..", through a symlink)."""


class MissingFromCase(CaseError):
    """A name of the case with no file behind it."""


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%S.%fZ')


def check_case_id(case_id):
    if not case_id or not CASE_ID.match(case_id):
        raise CaseError('case id %r is not usable as a directory name: use letters, digits, ".", "_" and "-" '
                        '(at most 128, starting with a letter or digit)' % (case_id,))
    return case_id


def check_host_name(name):
    if not name or name in ('.', '..') or '/' in name or '\0' in name:
        raise CaseError('inventory hostname %r cannot name a directory of the case' % (name,))
    return name


def sha256_file(path):
    """Stream a file through SHA-256; return (hex digest, size)."""
    digest = hashlib.sha256()
    size = 0
    fd = os.open(path, os.O_RDONLY | getattr(os, 'O_NOFOLLOW', 0) | getattr(os, 'O_NONBLOCK', 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise CaseError('%s is not a regular file' % path)
        while True:
            data = os.read(fd, CHUNK_SIZE)
            if not data:
                break
            digest.update(data)
            size += len(data)
    finally:
        os.close(fd)
    return digest.hexdigest(), size


def operator():
    """Who runs the controller side: OS user at controller host."""
    try:
        user = getpass.getuser()
    except Exception:  # noqa: B902 - getuser raises several types when there is no name
        user = str(os.getuid())
    return '%s@%s' % (user, socket.gethostname())


def append_custody(case_dir, action, examiner=None, host=None, parameters=None, result=None, when=None):
    """Append one line to the custody log; one write() so concurrent forks never interleave."""
    entry = {
        'when': when or utc_now(),
        'examiner': examiner,
        'operator': operator(),
        'host': host,
        'action': action,
        'parameters': parameters or {},
        'result': result or {},
    }
    line = (json.dumps(entry, sort_keys=True, ensure_ascii=False, default=str) + '\n').encode('utf-8')
    fd = os.open(os.path.join(case_dir, CUSTODY), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)
    return entry


def write_json(path, document):
    """Write JSON through a temporary file, so a reader never sees half of it."""
    temporary = path + '.tmp'
    # A file name that is not UTF-8 (held as surrogate escapes) is written as a \\udcXX escape, which
    # json.loads reads back into the same name.
    with open(temporary, 'w', encoding='utf-8', errors='backslashreplace') as handle:
        json.dump(document, handle, indent=2, sort_keys=True, ensure_ascii=False, default=str)
        handle.write('\n')
        handle.flush()
        os.fsync(handle.fileno())
    os.rename(temporary, path)


def read_json(path):
    try:
        with open(path, 'rb') as handle:
            return json.loads(handle.read().decode('utf-8'))
    except OSError as exc:
        raise CaseError('%s cannot be read: %s' % (path, exc.strerror))
    except ValueError as exc:
        raise CaseError('%s is not valid JSON: %s' % (path, exc))


def case_files(case_dir):
    """Every file of the case as a sorted list of relative paths; a symlink or special file is an error,
    and so is a directory that cannot be listed or an entry that cannot be looked at."""
    found = []
    problems = []

    def unlisted(exc):
        where = os.path.relpath(exc.filename or case_dir, case_dir)
        problems.append('%s cannot be listed: %s' % (where, exc.strerror or exc))

    for parent, dirnames, filenames in os.walk(case_dir, onerror=unlisted):
        dirnames.sort()
        for name in dirnames + filenames:
            path = os.path.join(parent, name)
            relative = os.path.relpath(path, case_dir)
            try:
                mode = os.lstat(path).st_mode
            except OSError as exc:
                problems.append('%s cannot be looked at: %s' % (relative, exc.strerror or exc))
                continue
            if stat.S_ISLNK(mode):
                problems.append('%s is a symlink; a case holds only regular files' % relative)
            elif stat.S_ISREG(mode):
                found.append(relative)
            elif not stat.S_ISDIR(mode):
                problems.append('%s is not a regular file' % relative)
    return sorted(found), problems


def sums_line(digest, relative):
    """One line of SHA256SUMS in the format GNU sha256sum -c reads, escapes included."""
    if '\\' in relative or '\n' in relative or '\r' in relative:
        escaped = relative.replace('\\', '\\\\').replace('\n', '\\n').replace('\r', '\\r')
        return '\\%s  %s\n' % (digest, escaped)
    return '%s  %s\n' % (digest, relative)


def parse_sums(text):
    entries = []
    # Only \n ends a line: a name may hold any other character splitlines() would break at.
    for number, line in enumerate(text.split('\n'), 1):
        if not line.strip():
            continue
        escaped = line.startswith('\\')
        if escaped:
            line = line[1:]
        match = re.match(r'^([0-9a-f]{64}) [ *](.+)$', line)
        if not match:
            raise CaseError('%s line %d is not a sha256sum line' % (SUMS, number))
        name = match.group(2)
        if escaped:
            name = re.sub(r'\\(.)', lambda m: {'n': '\n', 'r': '\r', '\\': '\\'}.get(m.group(1), m.group(1)), name)
        entries.append((match.group(1), name))
    return entries


def host_dir(case_dir, host):
    return os.path.join(case_dir, HOSTS_DIR, check_host_name(host))


def collections(case_dir):
    """The collection.json of every host that has one, by host name."""
    found = {}
    hosts_root = os.path.join(case_dir, HOSTS_DIR)
    if not os.path.isdir(hosts_root):
        return found
    for host in sorted(os.listdir(hosts_root)):
        path = os.path.join(hosts_root, host, COLLECTION)
        if os.path.isfile(path):
            found[host] = read_json(path)
    return found


def check_artifacts(case_dir, host_collections):
    """Re-hash every fetched artifact; return (manifest entries, problems)."""
    entries, problems = [], []
    for host, collection in sorted(host_collections.items()):
        for artifact in collection.get('artifacts') or []:
            relative = os.path.join(HOSTS_DIR, host, artifact['path'])
            path = os.path.join(case_dir, relative)
            entry = {
                'host': host,
                'path': relative,
                'kind': artifact.get('kind'),
                'container_id': artifact.get('container_id'),
                'size': artifact.get('size'),
                'sha256_source': artifact.get('sha256'),
                'sha256_controller': artifact.get('sha256_controller'),
                'collected_at': artifact.get('collected_at'),
                'fetched_at': artifact.get('fetched_at'),
                'source': artifact.get('source'),
            }
            if not os.path.isfile(path) or os.path.islink(path):
                problems.append('%s: recorded but missing from the case' % relative)
                continue
            digest, size = sha256_file(path)
            if digest != artifact.get('sha256'):
                problems.append('%s: SHA-256 on the controller %s differs from the source %s'
                                % (relative, digest, artifact.get('sha256')))
            elif size != artifact.get('size'):
                problems.append('%s: size %d differs from the %s recorded at the source' % (relative, size, artifact.get('size')))
            entries.append(entry)
    return entries, problems


def unrecorded_files(case_dir, host_collections):
    """Files under hosts/ that no collection.json accounts for (leftovers, additions)."""
    known = set()
    for host, collection in host_collections.items():
        known.add(os.path.join(HOSTS_DIR, host, COLLECTION))
        for artifact in collection.get('artifacts') or []:
            known.add(os.path.join(HOSTS_DIR, host, artifact['path']))
    files, problems = case_files(case_dir)
    extra = [path for path in files if path.startswith(HOSTS_DIR + '/') and path not in known]
    return extra, problems


def file_hashes(case_dir, exclude=SEAL_FILES):
    files, problems = case_files(case_dir)
    if problems:
        raise CaseError('; '.join(problems))
    hashes = {}
    for relative in files:
        if relative in exclude:
            continue
        hashes[relative] = sha256_file(os.path.join(case_dir, relative))[0]
    return hashes


def write_sums(case_dir):
    """SHA256SUMS over every file of the case but itself, so `sha256sum -c SHA256SUMS` checks them all."""
    hashes = file_hashes(case_dir, exclude=(SUMS,))
    temporary = os.path.join(case_dir, SUMS + '.tmp')
    # Names are bytes to sha256sum: one that is not UTF-8 is written back as the bytes it was.
    with open(temporary, 'w', encoding='utf-8', errors='surrogateescape', newline='') as handle:
        for relative in sorted(hashes):
            handle.write(sums_line(hashes[relative], relative))
    os.rename(temporary, os.path.join(case_dir, SUMS))
    return hashes


def open_in_case(case_dir, relative):
    """Open a file of the case by its relative name for reading, never leaving the case.

    Every directory on the way is opened without following a symlink, and so is the file itself;
    an absolute name or one with an empty, "." or ".." part is refused. Return a file descriptor, or
    raise CaseError saying why the name does not reach a regular file inside the case (OSError when
    the file is there but cannot be read).
    """
    if not isinstance(relative, str) or not relative or relative.startswith('/'):
        raise NotInCase('%r is not a relative path inside the case' % (relative,))
    parts = relative.split('/')
    if any(part in ('', '.', '..') for part in parts) or '\0' in relative:
        raise NotInCase('%r is not a plain relative path inside the case' % (relative,))
    nofollow = getattr(os, 'O_NOFOLLOW', 0)
    directory = os.open(case_dir, os.O_RDONLY | getattr(os, 'O_DIRECTORY', 0))
    try:
        for part in parts[:-1]:
            try:
                st = os.stat(part, dir_fd=directory, follow_symlinks=False)
            except FileNotFoundError:
                raise MissingFromCase('%s: missing' % relative)
            if not stat.S_ISDIR(st.st_mode):
                raise NotInCase('%s: %s is %s, not a directory of the case' % (
                    relative, part, 'a symlink' if stat.S_ISLNK(st.st_mode) else 'not a directory'))
            child = os.open(part, os.O_RDONLY | getattr(os, 'O_DIRECTORY', 0) | nofollow, dir_fd=directory)
            os.close(directory)
            directory = child
        try:
            st = os.stat(parts[-1], dir_fd=directory, follow_symlinks=False)
        except FileNotFoundError:
            raise MissingFromCase('%s: missing' % relative)
        if not stat.S_ISREG(st.st_mode):
            raise NotInCase('%s: %s, not a regular file' % (relative, 'a symlink' if stat.S_ISLNK(st.st_mode) else 'not a file'))
        # It may have been swapped since: O_NONBLOCK so that a FIFO put there cannot block the open,
        # and what was opened is checked again.
        fd = os.open(parts[-1], os.O_RDONLY | nofollow | getattr(os, 'O_NONBLOCK', 0), dir_fd=directory)
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise NotInCase('%s: not a file, not a regular file (replaced while it was being checked)' % relative)
        return fd
    finally:
        os.close(directory)


def _stream_in_case(case_dir, relative, consume):
    """Feed a file of the case to consume(chunk); return None, or the error as sha256_in_case says it."""
    try:
        fd = open_in_case(case_dir, relative)
    except CaseError as exc:
        return exc
    except OSError as exc:
        return CaseError('%s: cannot be read: %s' % (relative, exc.strerror or exc))
    try:
        while True:
            data = os.read(fd, CHUNK_SIZE)
            if not data:
                return None
            consume(data)
    except OSError as exc:
        return CaseError('%s: cannot be read: %s' % (relative, exc.strerror or exc))
    finally:
        os.close(fd)


def sha256_in_case(case_dir, relative):
    """SHA-256 of a file of the case, never of a file outside it and never an exception.

    Return (digest, None), or (None, error): a NotInCase, a MissingFromCase, or a CaseError for a
    file that is there but cannot be read (permissions, I/O); each error's message names the file.
    """
    digest = hashlib.sha256()
    error = _stream_in_case(case_dir, relative, digest.update)
    return (None, error) if error else (digest.hexdigest(), None)


def read_in_case(case_dir, relative):
    """The bytes of a file of the case, or (None, error) as sha256_in_case says it."""
    chunks = []
    error = _stream_in_case(case_dir, relative, chunks.append)
    return (None, error) if error else (b''.join(chunks), None)


def read_manifest(case_dir):
    """The bytes of manifest.json as they are on disk, or (None, problem). Read once, so that what is
    checked against the files is exactly what the signature is checked over."""
    data, error = read_in_case(case_dir, MANIFEST)
    if isinstance(error, MissingFromCase):
        return None, '%s is missing' % MANIFEST
    if isinstance(error, NotInCase):
        return None, '%s is not a regular file of the case: %s' % (MANIFEST, error)
    if error is not None:
        return None, str(error)
    return data, None


HEX64 = re.compile(r'^[0-9a-f]{64}$')


def manifest_shape(data):
    """Parse the manifest's bytes; return (document, problems). A document of another shape than
    case_seal writes is named as a problem, and only its usable parts are returned."""
    try:
        document = json.loads(data.decode('utf-8'))
    except (UnicodeDecodeError, ValueError) as exc:
        return None, ['%s is not valid JSON: %s' % (MANIFEST, exc)]
    if not isinstance(document, dict):
        return None, ['%s is not a JSON object but %s' % (MANIFEST, type(document).__name__)]
    problems = []
    files = document.get('files')
    if not isinstance(files, dict):
        problems.append('%s: "files" is %s, not an object of file names and SHA-256 hashes'
                        % (MANIFEST, 'missing' if files is None else type(files).__name__))
        files = {}
    usable = {}
    for name, digest in sorted(files.items()):
        if not isinstance(digest, str) or not HEX64.match(digest):
            problems.append('%s: "files" gives %r for %s, not a SHA-256 hash' % (MANIFEST, digest, name))
        else:
            usable[name] = digest
    artifacts = document.get('artifacts')
    if artifacts is None:
        artifacts = []
    if not isinstance(artifacts, list):
        problems.append('%s: "artifacts" is %s, not a list' % (MANIFEST, type(artifacts).__name__))
        artifacts = []
    records = []
    for index, artifact in enumerate(artifacts):
        if not isinstance(artifact, dict) or not isinstance(artifact.get('path'), str):
            problems.append('%s: artifact %d is not a record with a path' % (MANIFEST, index))
        else:
            records.append(artifact)
    document = dict(document, files=usable, artifacts=records)
    return document, problems


def verify_case(case_dir, manifest=None):
    """Check a sealed case's files against the signed manifest and SHA256SUMS; return (problems, counts).

    The signed manifest is the authority: every file of the case but the seal's own files
    (SEAL_FILES) must be in its "files", with that hash. SHA256SUMS, which is not signed, must agree
    with the case too, and a line of it naming anything outside the case is a problem, neither checked
    nor counted. counts['files'] is the number of SHA256SUMS lines that were checked and match.

    manifest: what read_manifest() gave the caller, who checks the signature over those very bytes
    (see _sshsig.verify), so that the files are checked against exactly what was signed; read here
    when not given.
    """
    problems = []
    files, layout_problems = case_files(case_dir)
    problems.extend(layout_problems)

    manifest_bytes, problem = manifest if manifest is not None else read_manifest(case_dir)
    if problem:
        problems.append(problem)
    manifest = None
    if manifest_bytes is not None:
        manifest, shape_problems = manifest_shape(manifest_bytes)
        problems.extend(shape_problems)

    listed = []
    data, error = read_in_case(case_dir, SUMS)
    if isinstance(error, MissingFromCase):
        return ['%s is missing: the case was never sealed' % SUMS], {'files': 0}
    if error is not None:
        problems.append(str(error))
    else:
        try:
            # Names are bytes to sha256sum: one that is not UTF-8 is read as surrogate escapes.
            listed = parse_sums(data.decode('utf-8', errors='surrogateescape'))
        except CaseError as exc:
            problems.append(str(exc))
        else:
            if not listed:
                # said first: every file then also reads as added after sealing
                problems.append('%s lists no file: it was emptied after sealing' % SUMS)

    matched = 0
    listed_names = set()
    for digest, relative in listed:
        listed_names.add(relative)
        actual, error = sha256_in_case(case_dir, relative)
        if isinstance(error, MissingFromCase):
            problems.append('%s: listed in %s but missing' % (relative, SUMS))
        elif isinstance(error, NotInCase):
            problems.append('%s names a file outside the case, not checked: %s' % (SUMS, error))
        elif error is not None:
            problems.append(str(error))
        elif actual != digest:
            problems.append('%s: SHA-256 is %s, %s says %s (the file changed after sealing)' % (relative, actual, SUMS, digest))
        else:
            matched += 1

    signed = (manifest or {}).get('files') or {}
    for relative in files:
        if relative == SUMS:
            continue
        if relative not in listed_names:
            problems.append('%s: not in %s (added after sealing)' % (relative, SUMS))
        elif manifest is not None and relative not in signed and relative not in SEAL_FILES:
            problems.append('%s: not in the signed manifest, although %s lists it (added after sealing)' % (relative, SUMS))

    for relative, digest in sorted(signed.items()):
        if relative in SEAL_FILES:
            problems.append('%s: the manifest lists a file of the seal itself' % relative)
            continue
        actual, error = sha256_in_case(case_dir, relative)
        if isinstance(error, MissingFromCase):
            problems.append('%s: listed in the manifest but missing' % relative)
        elif isinstance(error, NotInCase):
            problems.append('%s names a file outside the case: %s' % (MANIFEST, error))
        elif error is not None:
            problems.append(str(error))
        elif actual != digest:
            problems.append('%s: does not match the SHA-256 in the signed manifest' % relative)
    for artifact in (manifest or {}).get('artifacts') or []:
        if artifact.get('sha256_source') != signed.get(artifact['path']):
            problems.append('%s: the manifest\'s source hash and file hash disagree' % artifact['path'])
    return sorted(set(problems)), {'files': matched}


SOURCES = ('auto', 'api', 'disk')


def _host_path_problem(name, value, what, example):
    """Why `value` cannot be a path on the hosts, or None. ``~`` is the remote account's home there."""
    if not isinstance(value, str):
        return '%s must be a path on the hosts, not %r' % (name, value)
    if '\0' in value:
        return '%s %r holds a NUL byte, which no path can hold' % (name, value)
    if not value.startswith(('/', '~')):
        return '%s %r is not an absolute path: give the %s on the hosts from /, for example %s' % (name, value, what, example)
    if not os.path.normpath(value).strip('/'):
        return '%s must be a directory below /, not /' % name
    return None


def host_parameter_problems(parameters, parse_docker_host=None):
    """What the controller can tell is wrong with the host-side variables of a role before any host is
    touched: each problem names the variable (dfir_<key>), the value and what to give instead."""
    problems = []
    if 'evidence_dir' in parameters:
        problems.append(_host_path_problem('dfir_evidence_dir', parameters['evidence_dir'], 'staging directory',
                                           '/var/tmp/dfir-docker'))
    if parameters.get('docker_root'):
        problems.append(_host_path_problem('dfir_docker_root', parameters['docker_root'], 'Docker root', '/var/lib/docker'))
    containers = parameters.get('containers')
    if containers is not None:
        if not isinstance(containers, list):
            problems.append('dfir_containers must be a list of container ids, id prefixes or names, not %r' % (containers,))
        else:
            for index, item in enumerate(containers):
                if not isinstance(item, str) or not item.strip():
                    problems.append('dfir_containers[%d] is %r: each entry must be a container id, id prefix or name '
                                    '(a non-empty string)' % (index, item))
    if 'source' in parameters and parameters['source'] not in SOURCES:
        problems.append('dfir_source %r is not one of %s' % (parameters['source'], ', '.join(SOURCES)))
    if parameters.get('docker_host') and parse_docker_host is not None:
        try:
            parse_docker_host(parameters['docker_host'])
        except Exception as exc:  # the engine client's own message names the value and what is supported
            problems.append('dfir_docker_host: %s' % exc)
    return [problem for problem in problems if problem]
