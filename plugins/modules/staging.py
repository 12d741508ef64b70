#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: dfir.docker contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: staging
short_description: Create, hand over and remove the evidence staging directory on a Docker host
version_added: 0.1.0
description:
  - V(present) creates the staging directory (mode 0700; a parent it creates gets 0711 so the
    transfer account can reach it) and marks it as made by this collection. It reports the free space
    there and whether it shares a filesystem with the Docker root.
  - V(handover) gives the collected artifacts to the account that transfers them to the controller
    (the SSH login user when acquisition runs with C(become)), so they are streamed over SFTP instead
    of being read into memory. Only this collection's staging directories are handed over.
  - V(absent) removes a staging directory this collection made, and refuses any other directory.
    With O(only), it removes only the files named there (those the controller holds in the case with
    the same hash), then the directories left empty; the staging directory itself is removed only when
    nothing else is left in it, and otherwise kept, with what is left returned.
  - V(usage) reads how much has been written so far, artifacts complete and in progress (the
    C(.partial) files a step is still writing), to show that a long step is moving.
  - Used by the M(dfir.docker.evidence_fetch) action and the C(acquire) role; rarely called directly.
author:
  - dfir.docker maintainers (@dfir-docker)
options:
  path:
    description: The staging directory, usually C(<dfir_evidence_dir>/<case id>).
    type: path
    required: true
  state:
    description: What to do.
    type: str
    choices: [present, handover, absent, usage]
    default: present
  owner:
    description: Numeric uid to hand the artifacts over to (V(handover) only).
    type: int
  case_id:
    description: The case the directory belongs to, written into its marker file (V(present) only).
    type: str
  docker_root:
    description:
      - The Docker root, to warn when the staging directory shares its filesystem.
      - With V(present), a staging directory that is, or would be once created, inside it is refused before
        anything is created (see O(docker_host)); so is one inside C(/var/lib/docker), and for a
        user-namespace-remapped root (C(<root>/<uid>.<gid>)) one inside the root that holds it. Symlinks on the
        way are resolved and a bind mount of a root, or of a directory inside one, is recognised. The error names
        both paths. The directory is then created along the path checked without following any symlink, so a
        symlink put on the way after the check is refused.
    type: path
  docker_host:
    description:
      - The Docker daemon socket. With V(present), when a daemon answers there, its C(DockerRootDir) is refused as a
        place for the staging directory too. Nothing else is asked of the daemon; when none answers, the check
        uses O(docker_root) and C(/var/lib/docker) only.
    type: str
    default: unix:///var/run/docker.sock
  only:
    description:
      - With V(absent), the files to remove, relative to O(path); everything else is kept, and so is the
        staging directory when anything else is left in it.
      - A name that is absolute, contains C(..) or a NUL byte, goes through a symlink or is not a regular file is
        not removed.
      - Without it, V(absent) removes the whole directory.
    type: list
    elements: str
attributes:
  check_mode:
    support: full
    description: Reports what it would do.
'''

EXAMPLES = r'''
- name: Create the staging directory for case 42
  dfir.docker.staging:
    path: /var/tmp/dfir-docker/case-42
    case_id: case-42
  become: true

- name: Remove it once the case is sealed
  dfir.docker.staging:
    path: /var/tmp/dfir-docker/case-42
    state: absent
  become: true
'''

RETURN = r'''
path:
  description: The staging directory.
  returned: always
  type: str
free_bytes:
  description: Free space in the staging directory's filesystem (V(present)).
  returned: when state is present
  type: int
bytes:
  description: Bytes written so far, complete artifacts and partial ones together (V(usage)).
  returned: when state is usage
  type: int
files:
  description: Number of complete files (V(usage)).
  returned: when state is usage
  type: int
partial:
  description: The artifacts being written, each with path (relative) and size so far (V(usage)).
  returned: when state is usage
  type: list
  elements: dict
created_at:
  description: When the staging directory was made (UTC), from its marker file (V(present)).
  returned: when state is present
  type: str
user:
  description: The account the module ran as on the host, C(uid) and C(name) (V(present) and V(absent)).
  returned: when state is present or absent
  type: dict
removed:
  description: Whether the staging directory itself is gone (V(absent)).
  returned: when state is absent
  type: bool
removed_files:
  description: Number of files removed, the marker file not counted (V(absent)).
  returned: when state is absent
  type: int
removed_bytes:
  description: Their total size (V(absent)).
  returned: when state is absent
  type: int
left:
  description:
    - What is left in a staging directory that was kept (V(absent) with O(only)), relative to O(path),
      at most 100 names; C(left_files) and C(left_bytes) count them all.
  returned: when state is absent
  type: list
  elements: str
left_files:
  description: Number of files (or other entries that are not directories) left in the staging directory (V(absent)).
  returned: when state is absent
  type: int
left_bytes:
  description: Their total size (V(absent)).
  returned: when state is absent
  type: int
not_removed:
  description: Names of O(only) that were not removed, each with the reason (V(absent)).
  returned: when state is absent
  type: list
  elements: str
same_filesystem_as_docker_root:
  description: Whether the staging directory shares a filesystem with O(docker_root) (V(present)).
  returned: when state is present and docker_root is given
  type: bool
'''

import errno
import json
import os
import pwd
import shutil
import stat

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.dfir.docker.plugins.module_utils._engine_api import EngineAPIError, EngineClient
from ansible_collections.dfir.docker.plugins.module_utils._evidence import (
    PARTIAL_SUFFIX,
    STAGING_MARKER,
    EvidenceError,
    make_dirs_along,
    refuse_inside_docker_root,
)
from ansible_collections.dfir.docker.plugins.module_utils._sources import DEFAULT_DOCKER_ROOT
from ansible_collections.dfir.docker.plugins.module_utils._safe_io import utc_now


def marker_of(path):
    """The marker file's JSON object, or None when there is none that this collection could have written
    (missing, not a regular file, not JSON, or JSON of another type)."""
    try:
        fd = os.open(os.path.join(path, STAGING_MARKER), os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        with os.fdopen(os.dup(fd), 'rb') as handle:
            marker = json.loads(handle.read().decode('utf-8') or '{}')
    except (OSError, ValueError):
        return None
    finally:
        os.close(fd)
    return marker if isinstance(marker, dict) else None


def docker_roots(module):
    """The Docker roots the staging dir must stay out of: the one given, the default one, and the
    DockerRootDir of the daemon at docker_host when one answers (GET /info only)."""
    roots = [module.params['docker_root'], DEFAULT_DOCKER_ROOT]
    if module.params['docker_host']:
        try:
            roots.append(EngineClient(module.params['docker_host'], timeout=10).info().get('DockerRootDir'))
        except (EngineAPIError, AttributeError):
            pass   # no daemon there (or an odd answer): the roots known without it are checked
    return roots


def run_as():
    uid = os.geteuid()
    try:
        name = pwd.getpwuid(uid).pw_name
    except KeyError:
        name = None
    return {'uid': uid, 'name': name}


def present(module, path, result):
    try:
        # then created along the path checked, following no symlink (one planted since is refused)
        checked = refuse_inside_docker_root(path, docker_roots(module), what='staging path')
        parent = os.path.dirname(path)
        if not os.path.isdir(parent):
            if not module.check_mode:
                make_dirs_along(os.path.dirname(checked), mode=0o711, what='staging path')
                os.chmod(parent, 0o711)
            result['changed'] = True
    except EvidenceError as exc:
        module.fail_json(msg=str(exc), **result)
    if os.path.lexists(path):
        if not stat.S_ISDIR(os.lstat(path).st_mode):
            module.fail_json(msg='staging path %s exists and is not a directory' % path, **result)
        marker = marker_of(path)
        if marker is None and os.listdir(path):
            module.fail_json(msg='staging path %s exists, is not empty and was not made by dfir.docker; '
                                 'choose another dfir_evidence_dir' % path, **result)
        if marker is not None and module.params['case_id'] and marker.get('case_id') != module.params['case_id']:
            module.fail_json(msg='staging path %s belongs to case %s, not %s' % (path, marker.get('case_id'), module.params['case_id']),
                             **result)
    elif not module.check_mode:
        try:
            make_dirs_along(checked, mode=0o700, what='staging path')
        except EvidenceError as exc:
            module.fail_json(msg=str(exc), **result)
        result['changed'] = True
    else:
        result['changed'] = True
    if not module.check_mode and marker_of(path) is None:
        with open(os.path.join(path, STAGING_MARKER), 'w') as handle:
            json.dump({'case_id': module.params['case_id'], 'created_at': utc_now()}, handle)
        result['changed'] = True
    marker = marker_of(path) if os.path.isdir(path) else None
    if marker:
        result['created_at'] = marker.get('created_at')
    if os.path.isdir(path):
        fs = os.statvfs(path)
        result['free_bytes'] = fs.f_bavail * fs.f_frsize
        docker_root = module.params['docker_root']
        if docker_root and os.path.isdir(docker_root):
            result['same_filesystem_as_docker_root'] = os.stat(path).st_dev == os.stat(docker_root).st_dev


def handover(module, path, result):
    owner = module.params['owner']
    if owner is None:
        module.fail_json(msg='owner is required for state=handover', **result)
    if marker_of(path) is None:
        module.fail_json(msg='%s is not a dfir.docker staging directory; refusing to change its owner' % path, **result)
    for parent, dirnames, filenames in os.walk(path):
        for name in [''] + dirnames + filenames:
            target = os.path.join(parent, name) if name else parent
            st = os.lstat(target)
            if st.st_uid != owner:
                result['changed'] = True
                if not module.check_mode:
                    os.lchown(target, owner, -1)


def absent(module, path, result):
    result.update(removed=not os.path.lexists(path), removed_files=0, removed_bytes=0, left=[], left_files=0,
                  left_bytes=0, not_removed=[])
    if not os.path.lexists(path):
        return
    if marker_of(path) is None:
        module.fail_json(msg='%s is not a dfir.docker staging directory; refusing to remove it' % path, **result)
    if module.params['only'] is None:
        for parent, _dirnames, filenames in os.walk(path):
            for name in filenames:
                if name != STAGING_MARKER or parent != path:
                    result['removed_files'] += 1
                    result['removed_bytes'] += os.lstat(os.path.join(parent, name)).st_size
        result.update(changed=True, removed=True)
        if not module.check_mode:
            shutil.rmtree(path)
        return
    gone = set()
    for relative in sorted(set(module.params['only'])):
        why = remove_one(module, path, relative, result)
        if why:
            result['not_removed'].append('%s: %s' % (relative, why))
        else:
            gone.add(relative)
    left_over(module, path, result, gone)


def remove_one(module, path, relative, result):
    """Remove one regular file below path, reached without following any symlink; return why not, or None."""
    parts = relative.split('/')
    if (relative.startswith('/') or '\0' in relative or any(part in ('', '.', '..') for part in parts)
            or parts == [STAGING_MARKER]):
        return 'not a plain relative name of an artifact'
    directory = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        for part in parts[:-1]:
            try:
                child = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=directory)
            except OSError as exc:
                return 'not reached (%s)' % (exc.strerror or exc) if exc.errno != errno.ELOOP else 'goes through a symlink'
            os.close(directory)
            directory = child
        try:
            st = os.stat(parts[-1], dir_fd=directory, follow_symlinks=False)
        except FileNotFoundError:
            return 'not there'
        if not stat.S_ISREG(st.st_mode):
            return 'not a regular file'
        result['changed'] = True
        result['removed_files'] += 1
        result['removed_bytes'] += st.st_size
        if not module.check_mode:
            os.unlink(parts[-1], dir_fd=directory)
        return None
    finally:
        os.close(directory)


def left_over(module, path, result, gone):
    """Remove the directories left empty; remove the staging directory when nothing else is left, else list it.

    gone: the names removed (in check mode, those that would be), which are not counted as left.
    """
    for parent, dirnames, filenames in os.walk(path, topdown=False):
        entries = [(name, False) for name in filenames] + [(name, True) for name in dirnames]
        for name, listed_as_directory in entries:
            target = os.path.join(parent, name)
            relative = os.path.relpath(target, path)
            st = os.lstat(target)
            if listed_as_directory and stat.S_ISDIR(st.st_mode):
                if not module.check_mode:
                    try:
                        os.rmdir(target)
                    except OSError as exc:
                        if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                            raise
                continue
            # A file, or a symlink to a directory (os.walk lists it among the directories, and does not enter it).
            if relative == STAGING_MARKER or relative in gone:
                continue
            result['left_files'] += 1
            result['left_bytes'] += st.st_size if stat.S_ISREG(st.st_mode) else 0
            if len(result['left']) < 100:
                result['left'].append(relative)
    result['left'].sort()
    if result['left_files'] == 0:
        result.update(changed=True, removed=True)
        if not module.check_mode:
            os.unlink(os.path.join(path, STAGING_MARKER))
            os.rmdir(path)


def usage(module, path, result):
    """What has been written so far: reads sizes only (lstat), never file contents."""
    result.update(bytes=0, files=0, partial=[])
    if not os.path.isdir(path):
        return
    for parent, dirnames, filenames in os.walk(path):
        dirnames.sort()
        for name in sorted(filenames):
            target = os.path.join(parent, name)
            try:
                st = os.lstat(target)
            except OSError:
                continue  # renamed or removed meanwhile: the next reading counts it
            if not stat.S_ISREG(st.st_mode) or name == STAGING_MARKER:
                continue
            result['bytes'] += st.st_size
            if name.endswith(PARTIAL_SUFFIX):
                result['partial'].append({'path': os.path.relpath(target, path), 'size': st.st_size})
            else:
                result['files'] += 1


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type='path', required=True),
            state=dict(type='str', default='present', choices=['present', 'handover', 'absent', 'usage']),
            owner=dict(type='int'),
            case_id=dict(type='str'),
            docker_root=dict(type='path'),
            docker_host=dict(type='str', default='unix:///var/run/docker.sock'),
            only=dict(type='list', elements='str'),
        ),
        supports_check_mode=True,
    )
    path = os.path.normpath(module.params['path'])
    result = {'changed': False, 'path': path}
    if module.params['state'] in ('present', 'absent'):
        result['user'] = run_as()
    if '\0' in path:
        module.fail_json(msg='staging path %r holds a NUL byte, which no path can hold' % module.params['path'], **result)
    if not os.path.isabs(path) or path == '/':
        module.fail_json(msg='staging path must be an absolute path below /, not %r' % module.params['path'], **result)
    try:
        {'present': present, 'handover': handover, 'absent': absent, 'usage': usage}[module.params['state']](module, path, result)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        if exc.errno == errno.ENOSPC:
            reason = 'no space left'
        module.fail_json(msg='staging %s (%s) failed: %s%s' % (path, module.params['state'], reason,
                                                               ' on %s' % exc.filename if exc.filename else ''), **result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
