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

Why a batch lives in memory, and why 32 MiB: the connection returns a remote
command's stdout as one bytes object once the command has ended (that is
`exec_command`; only `fetch_file` streams to disk), so the controller holds a
batch's whole tar stream, and the connection plugin may briefly hold a second
copy while it joins what it read. Each fork fetches its own host, so the
controller's peak is about forks x 2 x the stream: with Ansible's default five
forks, a few hundred MiB at most, which an examiner's workstation has to
spare. A smaller batch would cost more round trips for the configs, inspect
documents and process maps of a host with many containers, which are a few
KiB each, and in practice a batch fills its name budget (BATCH_NAME_CHARS)
long before 32 MiB. An artifact over SMALL_ARTIFACT (4 MiB) takes long
enough to transfer that its own round trip does not matter, so it goes the
per-file way, streamed to disk.

The bound holds whatever the host reports: `plan` counts each member as the
tar bytes it can take (data in 512-byte blocks plus its headers, long names
included), keeps every artifact larger than what a batch may hold, or whose
size it cannot read, out of batches, and the host command stops the stream
at STREAM_BYTES (`head -c`), so a staged file that grew after it was hashed
cannot make the stream larger; what that cut leaves out comes the per-file
way and its size and hash are checked there.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import io
import os
import shlex
import tarfile

# An artifact up to this size may travel in a batch; a batch's tar stream (data and headers) holds at most
# BATCH_BYTES, and the host stops it at STREAM_BYTES (the end-of-archive blocks and the padding of the last
# 10 KiB tar record come on top of BATCH_BYTES). See the module's docstring for why these numbers.
SMALL_ARTIFACT = 4 * 1024 * 1024
BATCH_BYTES = 32 * 1024 * 1024
TAR_BLOCK = 512
TAR_RECORD = 20 * TAR_BLOCK
STREAM_BYTES = BATCH_BYTES + 2 * TAR_RECORD
# The names are arguments of one remote command: Linux refuses a single argument over 128 KiB
# (MAX_ARG_STRLEN), and the whole command line reaches the host as the argument of `sh -c`.
BATCH_NAME_CHARS = 60 * 1024
CHUNK_SIZE = 1024 * 1024


def member_bytes(path, size):
    """The most a file of `size` bytes named `path` takes in a tar stream: its data in 512-byte blocks, its
    header, and the extra headers a long or non-ASCII name needs (a GNU long-name or a pax record)."""
    def blocks(count):
        return -(-count // TAR_BLOCK) * TAR_BLOCK
    name = len(path.encode('utf-8', 'surrogateescape'))
    return blocks(size) + 3 * TAR_BLOCK + blocks(name + 1)


def _size(artifact):
    """The artifact's size as the host reported it, or None when that is not a byte count."""
    size = artifact.get('size')
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        return None
    return size


def plan(artifacts, small=SMALL_ARTIFACT, batch_bytes=BATCH_BYTES, name_chars=BATCH_NAME_CHARS):
    """Split artifacts into (batches of small ones, large ones to fetch one by one), keeping their order.

    A batch's tar stream stays within `batch_bytes` (see member_bytes). An artifact goes the per-file way
    when it is over `small`, when it alone would not fit in a batch, or when its size is not a byte count
    (it could be anything: only the per-file path streams to disk).
    """
    batches, singles = [], []
    current, current_bytes, current_chars = [], 0, 0
    for artifact in artifacts:
        size = _size(artifact)
        cost = None if size is None else member_bytes(artifact['path'], size)
        if size is None or size > small or cost > batch_bytes:
            singles.append(artifact)
            continue
        chars = len(shlex.quote(artifact['path'])) + 1
        if current and (current_bytes + cost > batch_bytes or current_chars + chars > name_chars):
            batches.append(current)
            current, current_bytes, current_chars = [], 0, 0
        current.append(artifact)
        current_bytes += cost
        current_chars += chars
    if current:
        batches.append(current)
    return batches, singles


def tar_command(evidence_dir, relpaths, max_bytes=STREAM_BYTES):
    """The host command that writes a tar of these staged files to stdout, at most `max_bytes` of it.

    Plain POSIX `tar` options that GNU tar and BusyBox tar both know, and `head -c` (GNU coreutils,
    BusyBox, toybox) for the cut. The names are relative to the staging dir; `--` keeps a name that
    starts with '-' from being read as an option. A host without `head` sends nothing, and every
    artifact of the batch then comes the per-file way.
    """
    return 'tar -C %s -cf - -- %s | head -c %d' % (
        shlex.quote(evidence_dir), ' '.join(shlex.quote(path) for path in relpaths), max_bytes)


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
