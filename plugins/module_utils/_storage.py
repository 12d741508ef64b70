# -*- coding: utf-8 -*-
# Copyright: dfir.docker contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where each storage driver keeps the layers of images and containers.

Private to the collection.  One small class per driver, all with the same
interface, picked by name with `storage_driver()`.  Nothing here mounts,
follows a symlink, or writes.

Names used everywhere: a layer's *cache id* is the driver directory of an
image layer (``layerdb/sha256/<chain id>/cache-id``); a container's *mount id*
is the driver directory of its writable layer (``layerdb/mounts/<id>/mount-id``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.dfir.docker.plugins.module_utils._safe_io import list_dir, read_text


class StorageDriver:
    """Directories of one storage driver inside a Docker root."""

    name = None
    # 'overlay': whiteouts are 0/0 character devices and opaque xattrs;
    # 'aufs': whiteouts are .wh.<name> files and .wh..wh..opq.
    whiteout_format = 'overlay'
    # True when each layer directory holds only that layer's changes; False when
    # the driver keeps a full copy of the filesystem per layer (vfs, overlay roots).
    layers_are_diffs = True

    def __init__(self, docker_root):
        self.docker_root = docker_root
        self.base = os.path.join(docker_root, self.name)

    def layer_dir(self, cache_id):
        """The directory holding the content of one image layer."""
        raise NotImplementedError

    def upper_dir(self, mount_id):
        """The directory holding a container's writable layer."""
        return self.layer_dir(mount_id)

    def lower_dirs(self, mount_id):
        """The lower directories the driver recorded for a container, newest first.

        None when the driver keeps no such record; the layer database then
        gives the chain.
        """
        return None

    def describe(self, mount_id):
        """What the driver itself records about a container's writable layer."""
        upper = self.upper_dir(mount_id)
        return {'upper_dir': upper, 'upper_dir_exists': os.path.isdir(upper), 'lower': self.lower_dirs(mount_id)}


class Overlay2Driver(StorageDriver):
    name = 'overlay2'

    def layer_dir(self, cache_id):
        return os.path.join(self.base, cache_id, 'diff')

    def short_links(self):
        """Map each short name in overlay2/l/ to the layer id it stands for.

        Read from each layer's ``link`` file rather than by following the
        symlinks in l/, which on a mounted image point into the wrong tree.
        """
        links = {}
        try:
            names = list_dir(self.base)
        except OSError:
            return links
        for name in names:
            try:
                links[read_text(os.path.join(self.base, name, 'link'), 1024).strip()] = name
            except OSError:
                continue
        return links

    def lower_dirs(self, mount_id):
        try:
            recorded = read_text(os.path.join(self.base, mount_id, 'lower'), 1024 * 1024).strip()
        except OSError:
            return None
        if not recorded:
            return []
        links = None
        dirs = []
        for entry in recorded.split(':'):
            short = entry[2:] if entry.startswith('l/') else entry
            if links is None:
                links = self.short_links()
            layer_id = links.get(short)
            if layer_id is None:
                try:
                    # ../<layer id>/diff, relative to l/: read, never followed.
                    target = os.readlink(os.path.join(self.base, 'l', short))
                    layer_id = os.path.basename(os.path.dirname(target))
                except OSError:
                    layer_id = None
            dirs.append({'link': entry, 'id': layer_id, 'dir': self.layer_dir(layer_id) if layer_id else None})
        return dirs

    def describe(self, mount_id):
        info = super(Overlay2Driver, self).describe(mount_id)
        info['work_dir'] = os.path.join(self.base, mount_id, 'work')
        info['merged_dir'] = os.path.join(self.base, mount_id, 'merged')
        return info


class OverlayDriver(StorageDriver):
    """The older single-lower overlay driver.

    An image layer keeps a full copy of the filesystem in ``root/``; a
    container keeps ``upper/`` over the ``root/`` of the layer named in ``lower-id``.
    """

    name = 'overlay'
    layers_are_diffs = False

    def layer_dir(self, cache_id):
        root = os.path.join(self.base, cache_id, 'root')
        if os.path.isdir(root):
            return root
        return os.path.join(self.base, cache_id, 'upper')

    def upper_dir(self, mount_id):
        return os.path.join(self.base, mount_id, 'upper')

    def lower_dirs(self, mount_id):
        try:
            lower_id = read_text(os.path.join(self.base, mount_id, 'lower-id'), 1024).strip()
        except OSError:
            return None
        return [{'link': None, 'id': lower_id, 'dir': os.path.join(self.base, lower_id, 'root')}]


class AufsDriver(StorageDriver):
    name = 'aufs'
    whiteout_format = 'aufs'

    def layer_dir(self, cache_id):
        return os.path.join(self.base, 'diff', cache_id)

    def lower_dirs(self, mount_id):
        try:
            recorded = read_text(os.path.join(self.base, 'layers', mount_id), 1024 * 1024)
        except OSError:
            return None
        return [{'link': None, 'id': layer_id, 'dir': self.layer_dir(layer_id)}
                for layer_id in recorded.split('\n') if layer_id.strip()]


class VfsDriver(StorageDriver):
    name = 'vfs'
    layers_are_diffs = False

    def layer_dir(self, cache_id):
        return os.path.join(self.base, 'dir', cache_id)


class UnsupportedDriver(StorageDriver):
    """btrfs, zfs, devicemapper, fuse-overlayfs...: named, not read."""

    def __init__(self, docker_root, name):
        self.name = name
        StorageDriver.__init__(self, docker_root)

    def layer_dir(self, cache_id):
        return os.path.join(self.base, cache_id)


DRIVERS = {cls.name: cls for cls in (Overlay2Driver, OverlayDriver, AufsDriver, VfsDriver)}
KNOWN_DRIVER_DIRS = ('overlay2', 'overlay', 'aufs', 'vfs', 'btrfs', 'zfs', 'devicemapper', 'fuse-overlayfs')


def storage_driver(docker_root, name):
    cls = DRIVERS.get(name)
    if cls is None:
        return UnsupportedDriver(docker_root, name)
    return cls(docker_root)
