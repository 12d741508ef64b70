# -*- coding: utf-8 -*-
# Copyright: dfir.docker contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Many small artifacts in one transfer: a tar stream of the staging dir, read on the controller.

Private to the collection; controller side only, no Ansible import.

A host with fifty containers stages hundreds of small files (configs, inspect
documents, process maps). Fetched one by one, each costs a round trip over
SSH, and a triage run's time grows with the number of containers. Here they
travel in batches: one `tar -c` on the host writes the batch to stdout, and
the controller unpacks each member into its place, hashing it on the way.
Nothing is trusted from the tar but the bytes: a member that is not a
regular file, or not one of the names asked for, is ignored (and its
artifact then comes through the one-by-one path, which reports it).
Large artifacts are never batched: they are streamed one by one, so a batch
held in memory stays small.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import io
import os
import shlex
import tarfile

# An artifact up to this size may travel in a batch; a batch holds at most BATCH_BYTES of file data.
SMALL_ARTIFACT = 4 * 1024 * 1024
BATCH_BYTES = 32 * 1024 * 1024
# The names are arguments of one remote command: Linux refuses a single argument over 128 KiB
# (MAX_ARG_STRLEN), and the whole command line reaches the host as the argument of `sh -c`.
BATCH_NAME_CHARS = 60 * 1024
CHUNK_SIZE = 1024 * 1024


def plan(artifacts, small=SMALL_ARTIFACT, batch_bytes=BATCH_BYTES, name_chars=BATCH_NAME_CHARS):
    """Split artifacts into (batches of small ones, large ones to fetch one by one), keeping their order."""
    batches, singles = [], []
    current, current_bytes, current_chars = [], 0, 0
    for artifact in artifacts:
        size = artifact.get('size') or 0
        if size > small:
            singles.append(artifact)
            continue
        chars = len(shlex.quote(artifact['path'])) + 1
        if current and (current_bytes + size > batch_bytes or current_chars + chars > name_chars):
            batches.append(current)
            current, current_bytes, current_chars = [], 0, 0
        current.append(artifact)
        current_bytes += size
        current_chars += chars
    if current:
        batches.append(current)
    return batches, singles


def tar_command(evidence_dir, relpaths):
    """The host command that writes a tar of these staged files to stdout.

    Plain POSIX `tar` options that GNU tar and BusyBox tar both know. The names are relative to
    the staging dir; `--` keeps a name that starts with '-' from being read as an option.
    """
    return 'tar -C %s -cf - -- %s' % (shlex.quote(evidence_dir), ' '.join(shlex.quote(path) for path in relpaths))


def unpack(data, destinations):
    """Write each wanted member of a tar stream to its destination; return {relpath: (sha256, size)}.

    `destinations` maps the relative names asked for to the file each is written to (created new,
    never through a symlink). Members not asked for, repeated, or not regular files are skipped;
    the caller fetches what is missing another way. A stream cut short keeps what arrived whole.
    """
    received = {}
    try:
        archive = tarfile.open(fileobj=io.BytesIO(data), mode='r|', encoding='utf-8', errors='surrogateescape')
    except tarfile.TarError:
        return received
    try:
        for member in _members(archive):
            name = member.name
            while name.startswith('./'):
                name = name[2:]
            if name not in destinations or name in received or not member.isreg():
                continue
            source = archive.extractfile(member)
            if source is None:
                continue
            try:
                received[name] = _write_new(destinations[name], source)
            except (OSError, tarfile.TarError):
                _discard(destinations[name])
                break
    finally:
        archive.close()
    return received


def _members(archive):
    """The members of a streamed tar, ending quietly where the stream is cut short or damaged."""
    while True:
        try:
            member = archive.next()
        except (tarfile.TarError, EOFError):
            return
        if member is None:
            return
        yield member


def _write_new(path, source):
    digest = hashlib.sha256()
    size = 0
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, 'O_NOFOLLOW', 0), 0o600)
    try:
        while True:
            chunk = source.read(CHUNK_SIZE)
            if not chunk:
                break
            view = memoryview(chunk)
            while view:
                view = view[os.write(fd, view):]
            digest.update(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    return digest.hexdigest(), size


def _discard(path):
    try:
        os.unlink(path)
    except OSError:
        pass
