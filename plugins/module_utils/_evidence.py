# -*- coding: utf-8 -*-
# Copyright: dfir.docker contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The staging directory on the host, and artifacts written into it.

Private to the collection.  An artifact is written to ``<name>.partial``
while it is hashed, and renamed to its name only once every byte is on
disk; a failed write leaves nothing behind and nothing recorded.  Only a
recorded artifact is ever fetched and sealed.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import hashlib
import json
import os
import re
import stat

from ansible_collections.dfir.docker.plugins.module_utils._safe_io import (
    O_CLOEXEC,
    O_NOFOLLOW,
    O_PATH,
    describe_os_error,
    open_regular,
    utc_from_timestamp,
    utc_now,
)

CHUNK_SIZE = 1024 * 1024
PARTIAL_SUFFIX = '.partial'
# Written into every staging dir this collection creates, so that cleanup
# never removes a directory it did not make.
STAGING_MARKER = '.dfir-docker-staging'


class EvidenceError(Exception):
    """An artifact could not be written; nothing was recorded for it."""


# The name of a user-namespace-remapped Docker root kept inside the real one: <root>/<uid>.<gid>.
_REMAPPED_NAME = re.compile(r'^\d+\.\d+$')


def resolved_future_path(path):
    """Where `path` lands once it is created: the real path of its nearest existing ancestor
    (symlinks resolved), joined with the components that do not exist yet."""
    path = os.path.normpath(os.path.abspath(path))
    missing = []
    current = path
    while not os.path.exists(current) and current != os.path.dirname(current):
        missing.insert(0, os.path.basename(current))
        current = os.path.dirname(current)
    return os.path.join(os.path.realpath(current), *missing) if missing else os.path.realpath(current)


def _identity(path):
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def protected_roots(roots):
    """The Docker roots a staging dir must stay out of, each once, as absolute real paths: every
    root given, and for a user-namespace-remapped root (``<root>/<uid>.<gid>``) the root that holds
    it. A remapped root kept inside a given root is inside it already."""
    found = []
    for root in roots:
        if not root or not isinstance(root, str):
            continue   # none given, or not a path (a broken daemon's DockerRootDir)
        root = os.path.normpath(os.path.abspath(root))
        candidates = [root]
        if _REMAPPED_NAME.match(os.path.basename(root)):
            candidates.append(os.path.dirname(root))
        for candidate in candidates:
            for form in (candidate, resolved_future_path(candidate)):
                if form not in found and form != '/':
                    found.append(form)
    return found


def _mounts():
    """(mount point, device, root of the mount inside its filesystem) of every mount, from
    /proc/self/mountinfo in its order; [] where it cannot be read."""
    try:
        with open('/proc/self/mountinfo', 'rb') as handle:
            text = handle.read().decode('utf-8', 'surrogateescape')
    except OSError:
        return []

    def unescape(field):
        return re.sub(r'\\([0-7]{3})', lambda match: chr(int(match.group(1), 8)), field)

    found = []
    for line in text.splitlines():
        fields = line.split(' ')
        if len(fields) > 4:
            found.append((unescape(fields[4]), fields[2], unescape(fields[3])))
    return found


def _inside_filesystem(path, mounts):
    """(device, path inside that filesystem) of an absolute real path, by the mount it is on (the
    longest mount point above it; of several at one point, the last, which hides the others)."""
    best = None
    for point, device, mount_root in mounts:
        if path == point or path.startswith(point.rstrip('/') + '/'):
            if best is None or len(point) >= len(best[0]):
                best = (point, device, mount_root)
    if best is None:
        return None
    point, device, mount_root = best
    return device, os.path.normpath(os.path.join(mount_root, path[len(point):].lstrip('/')))


def docker_root_holding(path, roots):
    """The Docker root (of `roots`) that `path` is or would be inside, else None.

    `path` may not exist yet: what counts is where it would be created, so the
    real path of its nearest existing ancestor is compared. A bind mount of a
    root elsewhere is caught too, by comparing each existing ancestor's device
    and inode with the roots', and so is a bind mount of a directory inside a
    root, by comparing where both are inside their filesystem (mountinfo).
    """
    roots = protected_roots(roots)
    lexical = os.path.normpath(os.path.abspath(path))
    resolved = resolved_future_path(path)
    for root in roots:
        for form in (lexical, resolved):
            if form == root or form.startswith(root.rstrip('/') + '/'):
                return root
    identities = dict((_identity(root), root) for root in roots)
    identities.pop(None, None)
    current = resolved
    while identities:
        identity = _identity(current)
        if identity in identities:
            return identities[identity]
        parent = os.path.dirname(current)
        if parent == current:
            break
        current = parent
    mounts = _mounts()
    where = _inside_filesystem(resolved, mounts)
    for root in roots:
        held = _inside_filesystem(root, mounts)
        if where and held and where[0] == held[0] and (
                where[1] == held[1] or where[1].startswith(held[1].rstrip('/') + '/')):
            return root
    return None


def make_dirs_along(real_path, mode=0o700, parent_mode=0o777, what='evidence_dir'):
    """Create the missing directories of `real_path`, an absolute path without symlinks as
    refuse_inside_docker_root checked it, walking down from / and following no symlink: one put on
    the way since the check is refused, so nothing is created where it leads. The last directory
    gets `mode`, those above it `parent_mode` (as os.makedirs, less the umask).
    Return the (st_dev, st_ino) of the last directory."""
    names = [part for part in real_path.split('/') if part]
    fd = os.open('/', O_PATH | os.O_DIRECTORY | O_CLOEXEC)
    try:
        for index, name in enumerate(names):
            try:
                os.mkdir(name, mode if index == len(names) - 1 else parent_mode, dir_fd=fd)
            except FileExistsError:
                pass
            except OSError as exc:
                raise EvidenceError('%s %s cannot be created: %s' % (what, real_path, describe_os_error(exc)))
            try:
                child = os.open(name, O_PATH | os.O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, dir_fd=fd)
            except OSError as exc:
                try:
                    is_link = stat.S_ISLNK(os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode)
                except OSError:
                    is_link = False
                raise EvidenceError('%s %s cannot be created: %s on the way is %s; refusing to create it through that'
                                    % (what, real_path, name, 'a symlink (it was not one when the path was checked)'
                                       if is_link else 'not a directory (%s)' % (exc.strerror or exc)))
            os.close(fd)
            fd = child
        st = os.fstat(fd)
        return st.st_dev, st.st_ino
    finally:
        os.close(fd)


def refuse_inside_docker_root(path, roots, what='evidence_dir'):
    """Raise EvidenceError, naming both paths, when `path` is or would be inside a Docker root; else
    return the path checked: where `path` lands once created, symlinks resolved (see make_dirs_along).

    Writing there can overwrite deleted data that is evidence, changes the root's
    own metadata, and inside a container's writable layer puts files into the
    container. Called before the staging dir is created.
    """
    if '\0' in path:
        raise EvidenceError('%s %r holds a NUL byte, which no path can hold' % (what, path))
    root = docker_root_holding(path, roots)
    resolved = resolved_future_path(path)
    if root is None:
        return resolved
    shown = path if os.path.normpath(path) == resolved else '%s (%s once symlinks are resolved)' % (path, resolved)
    raise EvidenceError('%s %s is inside the Docker root %s: writing there could overwrite evidence and change the '
                        'Docker root (inside a container\'s writable layer, the files would appear in the container); '
                        'choose a staging dir outside it, preferably on another disk' % (what, shown, root))


def _write_reason(exc, path):
    if exc.errno == errno.ENOSPC:
        return 'the staging disk is full while writing %s' % path
    if exc.errno == errno.EDQUOT:
        return 'disk quota exceeded while writing %s' % path
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return 'cannot write %s: %s' % (path, exc.strerror)
    return 'writing %s failed: %s' % (path, describe_os_error(exc))


def safe_relpath(relpath):
    """Refuse artifact names that could leave the staging dir."""
    if not relpath or relpath.startswith('/') or '\0' in relpath:
        raise EvidenceError('invalid artifact name %r' % relpath)
    parts = relpath.split('/')
    if any(part in ('', '.', '..') for part in parts):
        raise EvidenceError('invalid artifact name %r' % relpath)
    return relpath


class ArtifactWriter:
    """Bytes written here are hashed on the way to disk; see EvidenceDir.artifact()."""

    def __init__(self, evidence_dir, relpath, kind, container_id, source, extra):
        self.evidence_dir = evidence_dir
        self.relpath = safe_relpath(relpath)
        self.kind = kind
        self.container_id = container_id
        self.source = source
        self.extra = extra or {}
        self.final_path = os.path.join(evidence_dir.path, relpath)
        self.partial_path = self.final_path + PARTIAL_SUFFIX
        self.digest = hashlib.sha256()
        self.size = 0
        self.record = None
        self._fd = None

    def __enter__(self):
        self.evidence_dir.make_parents(self.relpath)
        if os.path.lexists(self.final_path):
            raise EvidenceError('artifact %s already exists in the staging dir; use a fresh evidence_dir' % self.relpath)
        try:
            self._fd = os.open(self.partial_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        except OSError as exc:
            raise EvidenceError(_write_reason(exc, self.partial_path))
        return self

    def write(self, data):
        view = memoryview(data)
        while view:
            try:
                written = os.write(self._fd, view)
            except OSError as exc:
                raise EvidenceError(_write_reason(exc, self.relpath))
            view = view[written:]
        self.digest.update(data)
        self.size += len(data)

    def __exit__(self, exc_type, exc, traceback):
        fd, self._fd = self._fd, None
        if exc_type is None:
            try:
                os.fsync(fd)
                os.close(fd)
                fd = None
                os.rename(self.partial_path, self.final_path)
            except OSError as error:
                if fd is not None:
                    os.close(fd)
                self._discard()
                raise EvidenceError(_write_reason(error, self.relpath))
            self.record = dict(self.extra)
            self.record.update({
                'path': self.relpath,
                'kind': self.kind,
                'sha256': self.digest.hexdigest(),
                'size': self.size,
                'container_id': self.container_id,
                'collected_at': utc_now(),
            })
            if self.source is not None:
                self.record['source'] = self.source
            self.evidence_dir.records.append(self.record)
            return False
        if fd is not None:
            os.close(fd)
        self._discard()
        return False

    def _discard(self):
        try:
            os.unlink(self.partial_path)
        except OSError:
            pass


class EvidenceDir:
    """A staging directory on the host that artifacts are written into."""

    def __init__(self, path, create=True, checked=None):
        """checked: the path refuse_inside_docker_root checked and returned; the directory is then created
        along it, following no symlink (make_dirs_along)."""
        if not path or not os.path.isabs(path):
            raise EvidenceError('evidence_dir must be an absolute path, not %r' % (path,))
        self.path = os.path.normpath(path)
        self.records = []
        if create:
            self._prepare(checked)

    def _prepare(self, checked=None):
        made = None
        if checked:
            made = make_dirs_along(checked)
        else:
            try:
                os.makedirs(self.path, mode=0o700, exist_ok=True)
            except OSError as exc:
                raise EvidenceError('evidence_dir %s cannot be created: %s' % (self.path, describe_os_error(exc)))
        st = os.lstat(self.path)
        if not stat.S_ISDIR(st.st_mode):
            raise EvidenceError('evidence_dir %s is not a directory' % self.path)
        if made is not None and (st.st_dev, st.st_ino) != made:
            raise EvidenceError('evidence_dir %s is no longer the directory %s that was checked and created; '
                                'a symlink on the way was changed' % (self.path, checked))
        probe = os.path.join(self.path, '.write-test-%d' % os.getpid())
        try:
            fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL | O_NOFOLLOW, 0o600)
            os.close(fd)
            os.unlink(probe)
        except OSError as exc:
            raise EvidenceError('evidence_dir %s cannot be written: %s' % (self.path, exc.strerror or exc))

    def make_parents(self, relpath):
        """Create the directories above an artifact, each 0700, none a symlink."""
        current = self.path
        for part in relpath.split('/')[:-1]:
            current = os.path.join(current, part)
            try:
                os.mkdir(current, 0o700)
            except OSError as exc:
                if exc.errno != errno.EEXIST:
                    raise EvidenceError(_write_reason(exc, current))
            if not stat.S_ISDIR(os.lstat(current).st_mode):
                raise EvidenceError('%s in the staging dir is not a directory; refusing to write through it' % current)

    def artifact(self, relpath, kind, container_id=None, source=None, extra=None):
        """A context manager to write one artifact; the record exists only on success."""
        return ArtifactWriter(self, relpath, kind, container_id, source, extra)

    def write_bytes(self, relpath, data, kind, container_id=None, source=None, extra=None):
        with self.artifact(relpath, kind, container_id, source, extra) as writer:
            writer.write(data)
        return writer.record

    def write_json(self, relpath, document, kind, container_id=None, source=None, extra=None):
        data = json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False).encode('utf-8') + b'\n'
        return self.write_bytes(relpath, data, kind, container_id, source, extra)

    def write_stream(self, relpath, chunks, kind, container_id=None, source=None, extra=None):
        with self.artifact(relpath, kind, container_id, source, extra) as writer:
            for chunk in chunks:
                writer.write(chunk)
        return writer.record

    def copy_file(self, source_path, relpath, kind, container_id=None, extra=None):
        """Copy a host file byte for byte; record its own timestamps beside the hash.

        Raises OSError when the source cannot be opened (missing, symlink,
        not a regular file) and EvidenceError when the copy cannot be written.
        """
        fd, st = open_regular(source_path)
        try:
            return self.copy_fd(fd, st, source_path, relpath, kind, container_id, extra)
        finally:
            os.close(fd)

    def copy_fd(self, fd, st, source_path, relpath, kind, container_id=None, extra=None):
        """Copy from an open file; the caller opened it (and keeps it open) before
        the file could be renamed or rotated away."""
        details = dict(extra or {})
        details['source_stat'] = stat_record(st)
        with self.artifact(relpath, kind, container_id, source_path, details) as writer:
            offset = 0
            while True:
                try:
                    data = os.pread(fd, CHUNK_SIZE, offset)
                except OSError as exc:
                    raise EvidenceError('reading %s failed: %s' % (source_path, exc.strerror))
                if not data:
                    break
                offset += len(data)
                writer.write(data)
        return writer.record


def stat_record(st):
    """The timestamps and identity of a source file, for the record."""
    return {
        'size': st.st_size,
        'mode': '%04o' % stat.S_IMODE(st.st_mode),
        'uid': st.st_uid,
        'gid': st.st_gid,
        'inode': st.st_ino,
        'mtime': utc_from_timestamp(st.st_mtime),
        'ctime': utc_from_timestamp(st.st_ctime),
        'atime': utc_from_timestamp(st.st_atime),
    }


def planned(relpath, kind, size, container_id=None, source=None):
    """What check mode reports for an artifact it would write."""
    record = {'path': relpath, 'kind': kind, 'size': size, 'container_id': container_id, 'sha256': None, 'planned': True}
    if source is not None:
        record['source'] = source
    return record
