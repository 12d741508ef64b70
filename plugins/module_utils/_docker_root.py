# -*- coding: utf-8 -*-
# Copyright: dfir.docker contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A read-only model of a Docker root (``/var/lib/docker`` or a copy of it).

Private to the collection.  Works on a live host and on a tree from a
mounted disk image alike: every path the daemon recorded (``LogPath``,
``HostsPath``...) names the original location and is rebased onto the
tree being read.  Nothing here writes or follows a symlink out of the tree.

Two layouts exist: ``v2`` (``containers/<id>/config.v2.json`` and
``image/<driver>/{imagedb,layerdb}``, Docker 1.10 and later) and ``v1``
(``containers/<id>/config.json`` and ``graph/<image id>/json``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json
import os
import re
import stat

from ansible_collections.dfir.docker.plugins.module_utils._safe_io import (
    describe_os_error,
    is_real_dir,
    list_dir,
    open_dir,
    display_path,
    json_safe,
    open_nofollow_beneath,
    read_small,
    read_text,
    scan_dir,
    walk_beneath,
)
from ansible_collections.dfir.docker.plugins.module_utils._storage import (
    KNOWN_DRIVER_DIRS,
    storage_driver,
)

ZERO_TIME = '0001-01-01T00:00:00Z'
CONTAINER_ID = re.compile(r'^[0-9a-f]{64}$')
REMAPPED_ROOT = re.compile(r'^(\d+)\.(\d+)$')
CONFIG_FILES = ('config.v2.json', 'config.json')


class DockerRootError(Exception):
    """Something in the Docker root could not be read or made sense of."""


class NotADockerRoot(DockerRootError):
    pass


class ContainerConfigError(DockerRootError):
    """One container's configuration is missing or corrupt."""

    def __init__(self, container_id, message):
        DockerRootError.__init__(self, 'container %s: %s' % (container_id, message))
        self.container_id = container_id


def _time_or_none(value):
    if not value or value.startswith('0001-01-01'):
        return None
    return value


def state_string(state):
    """The one-word state dockerd reports for a container it loads from this config file's State block.

    The order is moby's State.StateString (container/state.go): running, paused,
    restarting, removing, dead, created, exited. But a daemon never loads a
    container as "removing": RemovalInProgress only lives while a daemon removes
    the container (and dockerd sets Dead before it saves the config during a
    removal); finding it in a file means that removal was cut short, and on
    restore dockerd clears the flag and marks the container dead
    (daemon.restore). So from disk, RemovalInProgress and Dead both read
    ``dead``, which is what the Engine API's State.Status says of that container.
    """
    if state.get('Running'):
        if state.get('Paused'):
            return 'paused'
        if state.get('Restarting'):
            return 'restarting'
        return 'running'
    if state.get('Dead') or state.get('RemovalInProgress'):
        return 'dead'
    if not _time_or_none(state.get('StartedAt')):
        return 'created'
    return 'exited'


def chain_ids(diff_ids):
    """Chain ids of a list of diff ids: the key of each layer in the layer database."""
    chain = []
    for diff_id in diff_ids:
        if not chain:
            chain.append(diff_id)
        else:
            digest = hashlib.sha256(('%s %s' % (chain[-1], diff_id)).encode('ascii')).hexdigest()
            chain.append('sha256:' + digest)
    return chain


def _hex(digest):
    return digest.split(':', 1)[1] if ':' in digest else digest


# The JSON types of the values of config.v2.json (and v1 config.json) and hostconfig.json that this
# model uses; JSON null is accepted for each, as Go writes a nil map or slice as null. A nested dict
# describes an object's fields, ('map', shape) an object whose every value has that shape, and
# ('list', shape) an array whose every element has it.
MOUNT_POINT_SHAPE = {'Type': str, 'Name': str, 'Source': str, 'Destination': str, 'Driver': str, 'RW': bool,
                     'Propagation': str}
CONFIG_SHAPE = {
    'ID': str, 'Name': str, 'Image': str, 'Driver': str, 'Created': str, 'Path': str, 'Args': list,
    'OS': str, 'Platform': str, 'RestartCount': int, 'NetworkSettings': dict,
    'LogPath': str, 'HostnamePath': str, 'HostsPath': str, 'ResolvConfPath': str, 'ShmPath': str,
    'MountLabel': str, 'ProcessLabel': str, 'AppArmorProfile': str,
    'State': {'Running': bool, 'Paused': bool, 'Restarting': bool, 'Dead': bool, 'OOMKilled': bool,
              'RemovalInProgress': bool, 'Pid': int, 'ExitCode': int, 'Error': str, 'StartedAt': str,
              'FinishedAt': str},
    'Config': {'Image': str, 'User': str, 'Hostname': str, 'Tty': bool, 'Labels': ('map', str)},
    'MountPoints': ('map', MOUNT_POINT_SHAPE),
    'Volumes': ('map', str), 'VolumesRW': ('map', bool),
}
HOST_CONFIG_SHAPE = {
    'LogConfig': {'Type': str, 'Config': dict}, 'Tmpfs': ('map', str),
    'Mounts': ('list', {'Type': str, 'Target': str, 'ReadOnly': bool}),
    'Privileged': bool, 'PidMode': str, 'NetworkMode': str, 'UsernsMode': str,
}
JSON_TYPE_NAMES = {str: 'a string', bool: 'true or false', int: 'a number', list: 'an array', dict: 'an object'}


def _json_type(value):
    for kind, name in ((bool, 'true or false'), (str, 'a string'), (int, 'a number'), (float, 'a number'),
                       (list, 'an array'), (dict, 'an object')):
        if isinstance(value, kind):
            return name
    return 'null'


def shape_errors(document, shape, where=''):
    """Each value of `document` used by this model that has another JSON type than `shape` says,
    as 'Field.Sub: expected ..., found ...'."""
    problems = []
    if isinstance(shape, tuple):
        container, inner = shape
        items = document.items() if container == 'map' else enumerate(document)
        for key, value in items:
            problems.extend(_value_errors(value, inner, '%s[%s]' % (where, json.dumps(key))))
        return problems
    for key, expected in shape.items():
        if key in document:
            problems.extend(_value_errors(document[key], expected, '%s.%s' % (where, key) if where else key))
    return problems


def _value_errors(value, expected, where):
    if value is None:
        return []
    if isinstance(expected, dict):
        kind = dict
    elif isinstance(expected, tuple):
        kind = dict if expected[0] == 'map' else list
    else:
        kind = expected
    matches = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
    if not matches:
        return ['%s: expected %s, found %s %s' % (where, JSON_TYPE_NAMES[kind], _json_type(value),
                                                  json.dumps(value)[:60])]
    if kind in (dict, list) and expected is not kind:
        return shape_errors(value, expected, where)
    return []


def check_shape(document, shape, path, container_id):
    """Raise ContainerConfigError naming the file and the fields when `document` is not shaped as used."""
    problems = shape_errors(document, shape)
    if problems:
        raise ContainerConfigError(container_id, '%s is not shaped like a Docker config: %s'
                                   % (path, shape_summary(problems)))


def shape_summary(problems):
    """The first few shape problems, on one line."""
    return '; '.join(problems[:5]) + ('; ...' if len(problems) > 5 else '')


def load_json_bytes(data, what):
    try:
        document = json.loads(data.decode('utf-8'))
    except (ValueError, UnicodeDecodeError) as exc:
        raise DockerRootError('%s is not valid JSON: %s' % (what, exc))
    if not isinstance(document, dict):
        raise DockerRootError('%s is not a JSON object' % what)
    return document


# Where a Docker root sits below a directory that is not one: a mounted disk or partition
# (var/lib/docker, lib/docker for a mounted /var), a data-root moved into a "docker" folder.
DOCKER_ROOT_PLACES = ('docker', 'var/lib/docker', 'lib/docker')
ROOT_MARKERS = ('containers', 'image', 'graph')


def _holds_docker_root(path):
    try:
        return is_real_dir(path) and bool(set(list_dir(path)) & set(ROOT_MARKERS))
    except OSError:
        return False


def docker_roots_below(path, entries, limit=5):
    """Docker roots a little below `path` (its listing `entries`): the well-known places, then each
    subdirectory one level down; user-namespace-remapped roots are named by their own hint."""
    candidates = list(DOCKER_ROOT_PLACES) + sorted(name for name in entries if not REMAPPED_ROOT.match(name))
    found = []
    for relative in candidates:
        candidate = os.path.join(path, relative)
        if candidate not in found and _holds_docker_root(candidate):
            found.append(candidate)
            if len(found) >= limit:
                break
    return found


class DockerRoot:
    """One Docker root directory, read-only."""

    def __init__(self, path):
        path = os.path.abspath(path)
        if not os.path.exists(path):
            raise NotADockerRoot('docker_root %s does not exist' % path)
        if not is_real_dir(path):
            raise NotADockerRoot('docker_root %s is not a directory' % path)
        try:
            entries = set(list_dir(path))
        except OSError as exc:
            raise NotADockerRoot('docker_root %s cannot be read: %s' % (path, describe_os_error(exc)))
        self.path = path
        if not entries & {'containers', 'image', 'graph'}:
            remapped = [name for name in sorted(entries) if REMAPPED_ROOT.match(name)]
            hint = ''
            if remapped:
                hint = ' It holds the user-namespace-remapped root(s) %s: give one of those as docker_root.' % ', '.join(
                    os.path.join(path, name) for name in remapped)
            below = docker_roots_below(path, entries)
            if below:
                hint += ' Did you mean %s?' % ' or '.join(below)
            raise NotADockerRoot('%s is not a Docker root: it has none of containers/, image/ or graph/.%s' % (path, hint))
        self.layout = 'v2' if 'image' in entries or 'graph' not in entries else 'v1'
        self._entries = entries
        self._mount_id_claims = {}

    # -- the root itself ---------------------------------------------------

    def driver_dirs(self):
        return [name for name in KNOWN_DRIVER_DIRS if is_real_dir(os.path.join(self.path, name))]

    def remapped_roots(self):
        """User-namespace-remapped roots kept under this one (``<uid>.<gid>/``)."""
        roots = []
        for name in sorted(self._entries):
            match = REMAPPED_ROOT.match(name)
            if match and is_real_dir(os.path.join(self.path, name)):
                roots.append({'path': os.path.join(self.path, name), 'uid': int(match.group(1)), 'gid': int(match.group(2))})
        return roots

    def remapped_ids(self):
        """The (uid, gid) this root is remapped to when it is itself a ``<uid>.<gid>`` root."""
        match = REMAPPED_ROOT.match(os.path.basename(self.path))
        if match:
            return int(match.group(1)), int(match.group(2))
        return None

    def container_ids(self):
        try:
            names = list_dir(os.path.join(self.path, 'containers'))
        except OSError:
            return []
        return sorted(name for name in names if CONTAINER_ID.match(name))

    def container_dir(self, container_id):
        return os.path.join(self.path, 'containers', container_id)

    # -- containers --------------------------------------------------------

    def config_file(self, container_id):
        for name in CONFIG_FILES:
            candidate = os.path.join(self.container_dir(container_id), name)
            if os.path.lexists(candidate):
                return candidate
        return None

    def load_container(self, container_id):
        """Read a container's config and host config; raise ContainerConfigError."""
        directory = self.container_dir(container_id)
        if not is_real_dir(directory):
            raise ContainerConfigError(container_id, 'no directory %s' % directory)
        config_path = self.config_file(container_id)
        if config_path is None:
            raise ContainerConfigError(container_id, 'neither config.v2.json nor config.json in %s' % directory)
        try:
            config = load_json_bytes(read_small(config_path), config_path)
        except OSError as exc:
            raise ContainerConfigError(container_id, 'cannot read %s' % describe_os_error(exc))
        except DockerRootError as exc:
            raise ContainerConfigError(container_id, 'corrupt config: %s' % exc)
        check_shape(config, CONFIG_SHAPE, config_path, container_id)
        host_config, host_config_error = self._load_host_config(directory)
        return Container(self, container_id, config_path, config, host_config, host_config_error)

    @staticmethod
    def _load_host_config(directory):
        """(host config, None), or ({}, why it cannot be used): the container is still read from its
        config, and what only the host config tells (privileged, namespaces, log driver) is unknown."""
        path = os.path.join(directory, 'hostconfig.json')
        if not os.path.lexists(path):
            return {}, 'no hostconfig.json in %s' % directory
        try:
            host_config = load_json_bytes(read_small(path), path)
        except OSError as exc:
            return {}, 'cannot read %s' % describe_os_error(exc)
        except DockerRootError as exc:
            return {}, str(exc)
        problems = shape_errors(host_config, HOST_CONFIG_SHAPE)
        if problems:
            return {}, '%s is not shaped like a Docker host config: %s' % (path, shape_summary(problems))
        return host_config, None

    def containers(self):
        """All containers: (list of Container, list of ContainerConfigError)."""
        found, errors = [], []
        for container_id in self.container_ids():
            try:
                found.append(self.load_container(container_id))
            except ContainerConfigError as exc:
                errors.append(exc)
        return found, errors

    # -- images ------------------------------------------------------------

    def image_store(self, driver):
        return os.path.join(self.path, 'image', driver)

    def image_config_path(self, driver, image_id):
        return os.path.join(self.image_store(driver), 'imagedb', 'content', 'sha256', _hex(image_id))

    def load_image(self, driver, image_id):
        """The image config of a v2 image, with a check that it hashes to its id."""
        if not image_id:
            raise DockerRootError('the container\'s config records no image id')
        if self.layout == 'v1':
            return self._load_v1_image(image_id)
        path = self.image_config_path(driver, image_id)
        try:
            raw = read_small(path)
        except OSError as exc:
            raise DockerRootError('image %s: cannot read its config: %s' % (image_id, describe_os_error(exc)))
        config = load_json_bytes(raw, path)
        problems = shape_errors(config, {'rootfs': {'diff_ids': ('list', str)}, 'history': ('list', dict)})
        if problems:
            raise DockerRootError('image %s: %s is not shaped like an image config: %s'
                                  % (image_id, path, '; '.join(problems[:5])))
        return {
            'id': image_id,
            'config_path': path,
            'config': config,
            'config_sha256': hashlib.sha256(raw).hexdigest(),
            'config_matches_id': hashlib.sha256(raw).hexdigest() == _hex(image_id),
            'diff_ids': list((config.get('rootfs') or {}).get('diff_ids') or []),
            'history': list(config.get('history') or []),
        }

    def _load_v1_image(self, image_id):
        """A v1 image is a chain of graph/<id>/json, each naming its parent."""
        chain = []
        current = _hex(image_id)
        seen = set()
        while current and current not in seen:
            seen.add(current)
            path = os.path.join(self.path, 'graph', current, 'json')
            try:
                document = load_json_bytes(read_small(path), path)
            except OSError as exc:
                raise DockerRootError('v1 image %s: cannot read %s' % (image_id, describe_os_error(exc)))
            chain.append({'id': current, 'json_path': path, 'json': document})
            current = document.get('parent')
        chain.reverse()
        top = chain[-1]['json'] if chain else {}
        return {
            'id': image_id,
            'config_path': chain[-1]['json_path'] if chain else None,
            'config': top,
            'config_sha256': None,
            'config_matches_id': None,
            'diff_ids': [],
            'history': [{'created': item['json'].get('created'),
                         'created_by': ' '.join((item['json'].get('container_config') or {}).get('Cmd') or [])}
                        for item in chain],
            'v1_chain': chain,
        }

    def repository_tags(self, driver):
        """Image tags and digests the daemon recorded, keyed by image id."""
        if self.layout == 'v1':
            candidates = [os.path.join(self.path, 'repositories-%s' % driver)]
        else:
            candidates = [os.path.join(self.image_store(driver), 'repositories.json')]
        tags = {}
        for path in candidates:
            try:
                document = load_json_bytes(read_small(path), path)
            except (OSError, DockerRootError):
                continue
            for repository in (document.get('Repositories') or {}).values():
                for reference, image_id in repository.items():
                    tags.setdefault(image_id, []).append(reference)
        return tags

    def layer_record(self, driver, chain_id):
        """What the layer database holds for one image layer."""
        directory = os.path.join(self.image_store(driver), 'layerdb', 'sha256', _hex(chain_id))
        record = {'chain_id': chain_id, 'layerdb_dir': directory}
        for name, key in (('diff', 'diff_id_recorded'), ('cache-id', 'cache_id'), ('parent', 'parent'), ('size', 'size')):
            try:
                record[key] = read_text(os.path.join(directory, name), 4096).strip()
            except OSError:
                record[key] = None
        if record['size'] is not None:
            try:
                record['size'] = int(record['size'])
            except ValueError:
                pass
        return record

    def mount_record(self, driver, container_id):
        """The layer database's record of a container's writable layer."""
        directory = os.path.join(self.image_store(driver), 'layerdb', 'mounts', container_id)
        record = {}
        for name, key in (('mount-id', 'mount_id'), ('init-id', 'init_id'), ('parent', 'parent')):
            try:
                record[key] = read_text(os.path.join(directory, name), 4096).strip()
            except OSError:
                record[key] = None
        return record

    def mount_id_claims(self, driver):
        """Each mount id of the layer database's mounts/ records, with the ids of the containers whose record
        names it (read once per driver). Docker gives every container a fresh random mount id, so two claims
        on one are a damaged or tampered root."""
        cache = self._mount_id_claims
        if driver not in cache:
            claims = {}
            directory = os.path.join(self.image_store(driver), 'layerdb', 'mounts')
            try:
                names = list_dir(directory)
            except OSError:
                names = []
            for name in sorted(names):
                try:
                    mount_id = read_text(os.path.join(directory, name, 'mount-id'), 4096).strip()
                except OSError:
                    continue
                if mount_id:
                    claims.setdefault(mount_id, []).append(name)
            cache[driver] = claims
        return cache[driver]

    # -- paths the daemon recorded -------------------------------------------

    def rebase(self, recorded_path, original_root):
        """Map a path the daemon recorded under its root onto this tree."""
        if not recorded_path:
            return None
        if original_root and (recorded_path == original_root or recorded_path.startswith(original_root.rstrip('/') + '/')):
            return os.path.join(self.path, os.path.relpath(recorded_path, original_root))
        return recorded_path


class Container:
    """One container as its files on disk describe it."""

    def __init__(self, root, container_id, config_path, config, host_config, host_config_error=None):
        self.root = root
        self.id = container_id
        self.config_path = config_path
        self.config = config
        self.host_config = host_config
        self.host_config_error = host_config_error
        recorded_id = config.get('ID')
        if recorded_id and recorded_id != container_id:
            raise ContainerConfigError(container_id, 'its config names a different id, %s' % recorded_id)

    @property
    def directory(self):
        return self.root.container_dir(self.id)

    @property
    def driver(self):
        return self.config.get('Driver') or (self.root.driver_dirs() or [None])[0]

    @property
    def image_id(self):
        return self.config.get('Image')

    @property
    def state(self):
        return self.config.get('State') or {}

    def original_root(self):
        """The daemon's root on the host that wrote this config (e.g. /var/lib/docker)."""
        marker = '/containers/%s' % self.id
        for key in ('LogPath', 'HostnamePath', 'HostsPath', 'ResolvConfPath', 'ShmPath'):
            value = self.config.get(key) or ''
            index = value.find(marker)
            if index > 0:
                return value[:index]
        return None

    def rebase(self, recorded_path):
        return self.root.rebase(recorded_path, self.original_root())

    def config_files(self):
        """Files of containers/<id>/ that describe the container, logs aside: a ContainerFiles."""
        return list_config_files(self.directory, self.id)

    def log_config(self):
        log_config = self.host_config.get('LogConfig') or {}
        return log_config.get('Type') or None, log_config.get('Config') or {}

    def storage(self):
        return storage_driver(self.root.path, self.driver)

    def rw_layer(self):
        """Mount id, init id and the driver's record of the writable layer."""
        driver = self.storage()
        if self.root.layout == 'v1':
            mount = {'mount_id': self.id, 'init_id': self.id + '-init', 'parent': self.image_id}
        else:
            mount = self.root.mount_record(self.driver, self.id)
        if mount.get('mount_id'):
            mount.update(driver.describe(mount['mount_id']))
        else:
            mount['upper_dir'] = None
        if mount.get('init_id'):
            mount['init_dir'] = driver.upper_dir(mount['init_id'])
        return mount

    def mounts(self):
        """Volumes, bind mounts and tmpfs mounts, from the config and host config, each once."""
        found = self.mount_points()
        for destination, options in sorted((self.host_config.get('Tmpfs') or {}).items()):
            found.append({'type': 'tmpfs', 'name': None, 'source': None, 'destination': destination,
                          'driver': None, 'rw': True, 'propagation': None, 'options': options})
        listed = set(item['destination'] for item in found)
        for mount in self.host_config.get('Mounts') or []:
            # --mount type=tmpfs is normally in MountPoints already; list it from here only if not
            if mount.get('Type') == 'tmpfs' and mount.get('Target') not in listed:
                found.append({'type': 'tmpfs', 'name': None, 'source': None, 'destination': mount.get('Target'),
                              'driver': None, 'rw': not mount.get('ReadOnly'), 'propagation': None})
        return found

    def mount_points(self):
        """The mounts the daemon recorded in the config (what the Engine API lists as Mounts)."""
        found = []
        for destination, point in sorted((self.config.get('MountPoints') or {}).items()):
            point = point or {}
            kind = point.get('Type') or ('volume' if point.get('Name') else 'bind')
            found.append({
                'type': kind,
                'name': point.get('Name') or None,
                'source': point.get('Source') or None,
                'destination': point.get('Destination') or destination,
                'driver': point.get('Driver') or None,
                'rw': bool(point.get('RW')),
                'propagation': point.get('Propagation') or None,
            })
        for destination, source in sorted((self.config.get('Volumes') or {}).items()):
            # v1 layout: a plain map of container path to host path.
            found.append({'type': 'volume', 'name': None, 'source': source, 'destination': destination,
                          'driver': None, 'rw': bool((self.config.get('VolumesRW') or {}).get(destination, True)),
                          'propagation': None})
        return found

    def facts(self):
        """The container as engine_facts reports it."""
        config = self.config.get('Config') or {}
        state = self.state
        log_driver, log_options = self.log_config()
        rw_layer = self.rw_layer()
        log_path = self.config.get('LogPath') or None
        running = bool(state.get('Running'))
        state_word = state_string(state)
        return {
            'id': self.id,
            'name': (self.config.get('Name') or '').lstrip('/') or None,
            'image': config.get('Image') or None,
            'image_id': self.image_id,
            'state': state_word,
            'running': running,
            'paused': bool(state.get('Paused')),
            'restarting': bool(state.get('Restarting')),
            'dead': state_word == 'dead',
            'oom_killed': bool(state.get('OOMKilled')),
            'exit_code': state.get('ExitCode'),
            'error': state.get('Error') or None,
            'pid': (state.get('Pid') or None) if running else None,
            'created': _time_or_none(self.config.get('Created')),
            'started_at': _time_or_none(state.get('StartedAt')),
            'finished_at': _time_or_none(state.get('FinishedAt')),
            'restart_count': self.config.get('RestartCount', 0),
            'command': [self.config.get('Path')] + list(self.config.get('Args') or []) if self.config.get('Path') else [],
            'user': config.get('User') or None,
            'hostname': config.get('Hostname') or None,
            'tty': bool(config.get('Tty')),
            'labels': config.get('Labels') or {},
            # unknown (None), not false, when the host config cannot be used
            'privileged': None if self.host_config_error else bool(self.host_config.get('Privileged')),
            'pid_mode': self.host_config.get('PidMode') or None,
            'network_mode': self.host_config.get('NetworkMode') or None,
            'userns_mode': self.host_config.get('UsernsMode') or None,
            'host_config_error': self.host_config_error,
            'storage_driver': self.driver,
            'mount_id': rw_layer.get('mount_id'),
            'init_id': rw_layer.get('init_id'),
            'upper_dir': rw_layer.get('upper_dir'),
            'log_driver': log_driver,
            'log_options': log_options,
            'log_path': log_path,
            'log_file': self.rebase(log_path),
            'mounts': self.mounts(),
            'config_file': self.config_path,
            'source': 'disk',
        }

    def inspect_document(self):
        """An inspect document rebuilt from the files, shaped like GET /containers/{id}/json."""
        config = self.config
        state = dict(config.get('State') or {})
        state['Status'] = state_string(state)
        rw_layer = self.rw_layer()
        graph_data = {}
        if rw_layer.get('upper_dir'):
            graph_data['UpperDir'] = rw_layer['upper_dir']
            lower = rw_layer.get('lower')
            if lower:
                graph_data['LowerDir'] = ':'.join(item['dir'] or item['link'] for item in lower)
            if rw_layer.get('merged_dir'):
                graph_data['MergedDir'] = rw_layer['merged_dir']
                graph_data['WorkDir'] = rw_layer['work_dir']
        document = {
            'Id': self.id,
            'Created': config.get('Created'),
            'Path': config.get('Path'),
            'Args': config.get('Args') or [],
            'State': state,
            'Image': config.get('Image'),
            'ResolvConfPath': config.get('ResolvConfPath'),
            'HostnamePath': config.get('HostnamePath'),
            'HostsPath': config.get('HostsPath'),
            'LogPath': config.get('LogPath'),
            'Name': config.get('Name'),
            'RestartCount': config.get('RestartCount', 0),
            'Driver': config.get('Driver'),
            'Platform': config.get('OS') or config.get('Platform'),
            'MountLabel': config.get('MountLabel'),
            'ProcessLabel': config.get('ProcessLabel'),
            'AppArmorProfile': config.get('AppArmorProfile'),
            'HostConfig': self.host_config,
            'GraphDriver': {'Name': self.driver, 'Data': graph_data},
            'Mounts': [{
                'Type': item['type'], 'Name': item['name'], 'Source': item['source'] or '',
                'Destination': item['destination'], 'Driver': item['driver'], 'RW': item['rw'],
                'Propagation': item['propagation'],
            } for item in self.mount_points()],
            'Config': config.get('Config') or {},
            'NetworkSettings': config.get('NetworkSettings') or {},
        }
        return document

    def layer_chain(self, image=None):
        """The image layers under this container, oldest first, and its own layers."""
        driver = self.storage()
        chain = {'image_id': self.image_id, 'storage_driver': self.driver, 'layers': [], 'errors': []}
        if image is None:
            try:
                image = self.root.load_image(self.driver, self.image_id)
            except DockerRootError as exc:
                chain['errors'].append(str(exc))
                image = None
        if image is not None and self.root.layout == 'v1':
            for index, item in enumerate(image['v1_chain']):
                layer_dir = driver.layer_dir(item['id'])
                chain['layers'].append({
                    'index': index, 'diff_id': None, 'chain_id': None, 'cache_id': item['id'],
                    'dir': layer_dir, 'dir_exists': os.path.isdir(layer_dir),
                    'created_by': ' '.join((item['json'].get('container_config') or {}).get('Cmd') or []) or None,
                    'size': item['json'].get('Size'),
                })
        elif image is not None:
            steps = [step for step in image['history'] if not step.get('empty_layer')]
            for index, (diff_id, chain_id) in enumerate(zip(image['diff_ids'], chain_ids(image['diff_ids']))):
                record = self.root.layer_record(self.driver, chain_id)
                layer_dir = driver.layer_dir(record['cache_id']) if record.get('cache_id') else None
                chain['layers'].append({
                    'index': index,
                    'diff_id': diff_id,
                    'chain_id': chain_id,
                    'cache_id': record.get('cache_id'),
                    'dir': layer_dir,
                    'dir_exists': bool(layer_dir) and os.path.isdir(layer_dir),
                    'layerdb_dir': record['layerdb_dir'],
                    'layerdb_diff_matches': record.get('diff_id_recorded') == diff_id if record.get('diff_id_recorded') else None,
                    'size': record.get('size'),
                    'created_by': steps[index].get('created_by') if index < len(steps) else None,
                    'created': steps[index].get('created') if index < len(steps) else None,
                })
                if record.get('cache_id') is None:
                    chain['errors'].append('layer %d (%s): no entry in the layer database at %s' % (index, diff_id, record['layerdb_dir']))
        chain['rw_layer'] = self.rw_layer()
        chain['whiteout_format'] = driver.whiteout_format
        chain['layers_are_diffs'] = driver.layers_are_diffs
        return chain


LOG_NAME = re.compile(r'^[0-9a-f]{64}-json\.log(\.\d+)?(\.gz)?$')
# Directories of containers/<id>/ that are not configuration: logs, the
# container's /dev/shm backing and checkpoints are collected elsewhere or not at all.
NOT_CONFIG_DIRS = ('local-logs', 'shm', 'checkpoints')
# containers/<id>/mounts/shm is the tmpfs behind the container's own /dev/shm (--ipc shareable or private):
# the container writes there at will, so what it holds is the container's data, not the daemon's config.
SHM_DIR = 'mounts/shm'

FILE_TYPES = ((stat.S_ISLNK, 'symlink'), (stat.S_ISDIR, 'directory'), (stat.S_ISFIFO, 'fifo'),
              (stat.S_ISSOCK, 'socket'), (stat.S_ISCHR, 'character device'), (stat.S_ISBLK, 'block device'))


def file_type(mode):
    for test, name in FILE_TYPES:
        if test(mode):
            return name
    return 'regular file' if stat.S_ISREG(mode) else 'unknown'


def config_file_kind(relative):
    """The artifact kind of a file of containers/<id>/: the container's /dev/shm content apart."""
    if relative == SHM_DIR or relative.startswith(SHM_DIR + '/'):
        return 'container_shm'
    return 'container_config'


class ContainerFiles:
    """The files of containers/<id>/ that describe the container (logs aside), listed once.

    `files` holds (relative path, artifact kind) of regular files; `special` one
    dict per entry that is not a regular file (path, type, and a symlink's
    target text, both as display_path shows them), listed and never read or
    followed. Everything is listed and
    opened beneath the container directory's fd, with O_NOATIME and without
    following any symlink, so neither an atime moves nor a symlink that the
    container puts into its /dev/shm leads to a host file.
    """

    def __init__(self, directory, container_id):
        self.directory = directory
        self.container_id = container_id
        self.files = []
        self.special = []
        try:
            fd = open_dir(directory)
        except OSError as exc:
            raise ContainerConfigError(container_id, 'cannot list %s' % describe_os_error(exc))
        try:
            self._list(fd)
        finally:
            os.close(fd)

    def _list(self, fd):
        try:
            entries = scan_dir(fd)
        except OSError as exc:
            raise ContainerConfigError(self.container_id, 'cannot list %s: %s' % (self.directory, exc.strerror))
        for name, st in entries:
            if LOG_NAME.match(name) or name in NOT_CONFIG_DIRS or name == 'container-cached.log':
                continue
            if stat.S_ISDIR(st.st_mode) and name == 'mounts':
                self._walk(fd, name)
            else:
                self._add(fd, name, name, st)

    def _walk(self, fd, name):
        try:
            child = open_dir(name, fd)
        except OSError as exc:
            self.special.append({'path': name, 'type': 'directory', 'error': describe_os_error(exc)})
            return
        try:
            for relative, st, dir_fd, entry in walk_beneath(child, name + '/'):
                if not stat.S_ISDIR(st.st_mode):
                    self._add(dir_fd, entry, relative, st)
        except OSError as exc:
            self.special.append({'path': json_safe(exc.filename or name), 'type': 'directory',
                                 'error': 'not listed: %s' % (exc.strerror or exc)})
        finally:
            os.close(child)

    def _add(self, dir_fd, name, relative, st):
        if stat.S_ISREG(st.st_mode):
            self.files.append((relative, config_file_kind(relative)))
            return
        item = {'path': display_path(relative), 'type': file_type(st.st_mode)}
        if stat.S_ISLNK(st.st_mode):
            try:
                item['target'] = display_path(os.readlink(name, dir_fd=dir_fd))
            except OSError as exc:
                item['error'] = describe_os_error(exc)
        self.special.append(item)

    def open(self, relative):
        """(fd, stat) of one listed file, opened beneath the container directory and following no
        symlink on the way (a component swapped for a symlink since the listing fails with ELOOP)."""
        fd = open_dir(self.directory)
        try:
            return open_nofollow_beneath(fd, relative)
        finally:
            os.close(fd)

    def describe_special(self):
        return ', '.join('%s -> %s' % (item['path'], item['target']) if 'target' in item
                         else '%s (%s)' % (item['path'], item.get('error') or item['type']) for item in self.special)


def list_config_files(directory, container_id):
    """The ContainerFiles of a container directory; raises ContainerConfigError when it cannot be listed."""
    return ContainerFiles(directory, container_id)
