# -*- coding: utf-8 -*-
# Copyright: dfir.docker contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where a module reads from: the live Engine API, or a Docker root on disk.

Private to the collection.  `Target` picks the source (``auto`` prefers a
daemon that answers, and falls back to the disk), and gives the modules one
view of the engine and its containers whatever the source.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

from ansible_collections.dfir.docker.plugins.module_utils._docker_root import (
    ContainerConfigError,
    DockerRoot,
    DockerRootError,
    NotADockerRoot,
    REMAPPED_ROOT,
    _time_or_none,
)
from ansible_collections.dfir.docker.plugins.module_utils._engine_api import (
    EngineAPIError,
    EngineClient,
    EngineNotFound,
    EngineUnavailable,
)
from ansible_collections.dfir.docker.plugins.module_utils._safe_io import read_small
from ansible_collections.dfir.docker.plugins.module_utils._selection import resolve

DEFAULT_DOCKER_ROOT = '/var/lib/docker'
SOURCES = ('auto', 'api', 'disk')

# Fields compared between the daemon's view and the files when both can be read.
COMPARED_FIELDS = ('name', 'image_id', 'state', 'running', 'paused', 'pid', 'started_at', 'finished_at', 'mount_id')


class SourceError(Exception):
    """The requested source cannot be used; the message says why."""


def facts_from_inspect(document):
    """engine_facts fields from an inspect document of the Engine API."""
    config = document.get('Config') or {}
    state = document.get('State') or {}
    host_config = document.get('HostConfig') or {}
    log_config = host_config.get('LogConfig') or {}
    graph = document.get('GraphDriver') or {}
    graph_data = graph.get('Data') or {}
    upper_dir = graph_data.get('UpperDir')
    mount_id = None
    if upper_dir and graph.get('Name') in ('overlay2', 'overlay'):
        mount_id = os.path.basename(os.path.dirname(upper_dir))
    running = bool(state.get('Running'))
    mounts = []
    for mount in document.get('Mounts') or []:
        mounts.append({
            'type': mount.get('Type'), 'name': mount.get('Name') or None, 'source': mount.get('Source') or None,
            'destination': mount.get('Destination'), 'driver': mount.get('Driver') or None,
            'rw': bool(mount.get('RW')), 'propagation': mount.get('Propagation') or None,
        })
    for destination, options in sorted((host_config.get('Tmpfs') or {}).items()):
        mounts.append({'type': 'tmpfs', 'name': None, 'source': None, 'destination': destination,
                       'driver': None, 'rw': True, 'propagation': None, 'options': options})
    return {
        'id': document.get('Id'),
        'name': (document.get('Name') or '').lstrip('/') or None,
        'image': config.get('Image') or None,
        'image_id': document.get('Image'),
        'state': state.get('Status'),
        'running': running,
        'paused': bool(state.get('Paused')),
        'restarting': bool(state.get('Restarting')),
        'dead': bool(state.get('Dead')),
        'oom_killed': bool(state.get('OOMKilled')),
        'exit_code': state.get('ExitCode'),
        'error': state.get('Error') or None,
        'pid': (state.get('Pid') or None) if running else None,
        'created': _time_or_none(document.get('Created')),
        'started_at': _time_or_none(state.get('StartedAt')),
        'finished_at': _time_or_none(state.get('FinishedAt')),
        'restart_count': document.get('RestartCount', 0),
        'command': [document.get('Path')] + list(document.get('Args') or []) if document.get('Path') else [],
        'user': config.get('User') or None,
        'hostname': config.get('Hostname') or None,
        'tty': bool(config.get('Tty')),
        'labels': config.get('Labels') or {},
        'privileged': bool(host_config.get('Privileged')),
        'pid_mode': host_config.get('PidMode') or None,
        'network_mode': host_config.get('NetworkMode') or None,
        'userns_mode': host_config.get('UsernsMode') or None,
        'host_config_error': None,
        'storage_driver': graph.get('Name') or document.get('Driver'),
        'mount_id': mount_id,
        'init_id': mount_id + '-init' if mount_id else None,
        'upper_dir': upper_dir,
        'log_driver': log_config.get('Type') or None,
        'log_options': log_config.get('Config') or {},
        'log_path': document.get('LogPath') or None,
        'log_file': document.get('LogPath') or None,
        'mounts': mounts,
        'config_file': None,
        'source': 'api',
    }


def unreadable_facts(root, error):
    """The engine_facts entry of a container whose config is missing or corrupt: what is known is its id."""
    facts = dict((key, None) for key in UNKNOWN_WHEN_UNREADABLE)
    facts.update({'id': error.container_id, 'labels': {}, 'mounts': [], 'source': 'disk', 'host_config_error': None,
                  'config_file': root.config_file(error.container_id), 'config_error': str(error)})
    return facts


# The keys of engine_facts' container entries that only the config file can tell.
UNKNOWN_WHEN_UNREADABLE = ('name', 'image', 'image_id', 'state', 'running', 'paused', 'pid', 'created', 'started_at',
                           'finished_at', 'storage_driver', 'mount_id', 'upper_dir', 'log_driver', 'log_path', 'log_file')


def same_root(one, other):
    """True when two Docker root paths name the same directory here, or one is the other's
    user-namespace-remapped root (<root>/<uid>.<gid>), as a remapping daemon reports it."""
    if not one or not other or not isinstance(other, str):
        return False
    one, other = os.path.realpath(one), os.path.realpath(other)
    if one == other:
        return True
    for inner, outer in ((one, other), (other, one)):
        if os.path.dirname(inner) == outer and REMAPPED_ROOT.match(os.path.basename(inner)):
            return True
    return False


class Target:
    """A Docker host to read: through its daemon, or from its files."""

    def __init__(self, source='auto', docker_host=None, docker_root=None, timeout=60):
        if source not in SOURCES:
            raise SourceError('source must be one of %s, not %r' % (', '.join(SOURCES), source))
        self.requested_source = source
        self.warnings = []
        self.client = None
        self.root = None
        self.root_error = None
        self._info = None
        self._version = None
        self._host_files = None
        if source in ('auto', 'api'):
            client = EngineClient(docker_host, timeout=timeout)
            try:
                self._version = client.version()
                self._info = client.info()
                self.client = client
            except EngineAPIError as exc:
                if source == 'api':
                    raise SourceError('source is api, but %s' % exc)
                self.warnings.append('no Docker daemon answered (%s); reading the Docker root from disk' % exc)
        if self.client is not None and docker_root and not same_root(docker_root, self._info.get('DockerRootDir')):
            # The user pointed at another tree (a mounted image, a copy): the daemon here knows other containers.
            message = ('docker_root %s is not the Docker root of the daemon that answered (%s)'
                       % (docker_root, self._info.get('DockerRootDir')))
            if source == 'api':
                raise SourceError('source is api, but %s: leave docker_root unset, or use source disk' % message)
            self.warnings.append('%s: reading %s from disk, not through that daemon' % (message, docker_root))
            self.client, self._info, self._version = None, None, None
        self.source = 'api' if self.client else 'disk'
        requested_root = docker_root
        if docker_root is None:
            docker_root = (self._info or {}).get('DockerRootDir') or DEFAULT_DOCKER_ROOT
        self.docker_root = docker_root
        self.requested_root = requested_root
        try:
            self.root = DockerRoot(docker_root)
        except NotADockerRoot as exc:
            if self.source == 'disk':
                raise SourceError(str(exc))
            self.root_error = str(exc)

    def docker_roots(self):
        """Every Docker root known here, which a staging dir must stay out of: the one asked for,
        the one read, the live daemon's DockerRootDir (when it answered) and the default root."""
        roots = [self.requested_root, self.docker_root, self.root.path if self.root is not None else None,
                 (self._info or {}).get('DockerRootDir')]
        return [root for root in roots if root] + [DEFAULT_DOCKER_ROOT]

    # -- the engine --------------------------------------------------------

    def engine(self):
        if self.client:
            return self._engine_from_api()
        return self._engine_from_disk()

    def _engine_from_api(self):
        info, version = self._info, self._version
        security = list(info.get('SecurityOptions') or [])
        engine = {
            'source': 'api',
            'version': version.get('Version'),
            'api_version': version.get('ApiVersion'),
            'api_version_used': self.client.api_version,
            'min_api_version': version.get('MinAPIVersion'),
            'os': info.get('OperatingSystem'),
            'kernel_version': info.get('KernelVersion'),
            'architecture': info.get('Architecture'),
            'hostname': info.get('Name'),
            'engine_id': info.get('ID'),
            'storage_driver': info.get('Driver'),
            'storage_driver_status': dict((item[0], item[1]) for item in info.get('DriverStatus') or [] if len(item) == 2),
            'docker_root': info.get('DockerRootDir'),
            'logging_driver': info.get('LoggingDriver'),
            'cgroup_driver': info.get('CgroupDriver'),
            'cgroup_version': info.get('CgroupVersion'),
            'security_options': security,
            'userns_remap': any(option.startswith('name=userns') for option in security),
            'rootless': any(option.startswith('name=rootless') for option in security),
            'default_runtime': info.get('DefaultRuntime'),
            'live_restore': info.get('LiveRestoreEnabled'),
            'containers_total': info.get('Containers'),
            'containers_running': info.get('ContainersRunning'),
            'containers_paused': info.get('ContainersPaused'),
            'containers_stopped': info.get('ContainersStopped'),
            'images': info.get('Images'),
            'system_time': info.get('SystemTime'),
            'docker_host': self.client.docker_host,
        }
        engine.update(self._root_details())
        return engine

    def _engine_from_disk(self):
        containers, _errors = self.root.containers()
        drivers = sorted(set(container.driver for container in containers if container.driver))
        daemon_config = self.daemon_config()
        engine = {
            'source': 'disk',
            'version': None,
            'api_version': None,
            'storage_driver': drivers[0] if len(drivers) == 1 else (drivers or self.root.driver_dirs() or [None])[0],
            'storage_drivers_seen': drivers,
            'docker_root': self.root.path,
            'logging_driver': (daemon_config or {}).get('log-driver') or ('json-file' if daemon_config is not None else None),
            'security_options': [],
            'userns_remap': self.root.remapped_ids() is not None or bool((daemon_config or {}).get('userns-remap')),
            'rootless': '/.local/share/docker' in self.root.path,
            'layout': self.root.layout,
        }
        engine.update(self._root_details())
        return engine

    def _root_details(self):
        if self.root is None:
            return {'docker_root_readable': False, 'docker_root_error': self.root_error}
        host_files, why = self.host_files()
        details = {'docker_root_readable': True, 'layout': self.root.layout,
                   'remapped_roots': self.root.remapped_roots(), 'host_files': host_files,
                   'host_files_unknown': why}
        remapped = self.root.remapped_ids()
        if remapped:
            details['remapped_to'] = {'uid': remapped[0], 'gid': remapped[1]}
        return details

    def host_files(self):
        """Where the own files of the host that the Docker root belongs to are, seen from here: (path, why).

        '/' when the root is this machine's: read through its daemon, or read at the path its daemon
        recorded in the containers' configs. For a root read at <image>/var/lib/docker (a mounted disk
        image) while its daemon recorded /var/lib/docker, <image>. (None, why) when the root is another
        host's and where that host's files are cannot be told (a copy of the root alone): then bind-mount
        sources, /etc/subuid, /proc and the daemon's config must not be read from this machine instead.
        """
        if self._host_files is None:
            self._host_files = self._find_host_files()
        return self._host_files

    def _find_host_files(self):
        if self.client is not None:
            return '/', None
        if self.root is None:
            return None, 'the Docker root cannot be read'
        path = os.path.normpath(self.root.path)
        recorded = self._recorded_root()
        if recorded is None:
            # nothing recorded: a root at the default place is taken as the daemon's
            recorded = os.path.join(DEFAULT_DOCKER_ROOT, os.path.basename(path)) if self.root.remapped_ids() \
                else DEFAULT_DOCKER_ROOT
        if same_root(path, recorded):
            return '/', None
        if path.endswith(recorded.rstrip('/')) and recorded.startswith('/'):
            return path[:-len(recorded.rstrip('/'))] or '/', None
        return None, ('the Docker root is read at %s but its daemon kept it at %s, so it is not this machine\'s '
                      'and where that host\'s own files are is unknown' % (path, recorded))

    def _recorded_root(self):
        """The Docker root path that the daemon wrote into its containers' configs, if any."""
        found, _errors = self.root.containers()
        for container in found:
            recorded = container.original_root()
            if recorded:
                return os.path.normpath(recorded)
        return None

    def on_this_machine(self):
        """True when the Docker root is this machine's, so its PIDs are this machine's /proc."""
        return self.host_files()[0] == '/'

    def elsewhere(self):
        """Why the Docker root's processes are not this machine's; None when they are."""
        base, why = self.host_files()
        if base == '/':
            return None
        return why or 'the Docker root is read from a disk image mounted at %s, not from this machine' % base

    def host_path(self, recorded_path):
        """(path here, why not): a path of the Docker host's own filesystem as seen from this machine."""
        base, why = self.host_files()
        if base is None:
            return None, why
        if base == '/':
            return recorded_path, None
        return os.path.join(base, recorded_path.lstrip('/')), None

    def daemon_config_path(self):
        """/etc/docker/daemon.json of the host whose root is read, or None when it cannot be told."""
        path, _why = self.host_path('/etc/docker/daemon.json')
        return path

    def daemon_config(self):
        path = self.daemon_config_path()
        if not path:
            return None
        try:
            return json.loads(read_small(path, 1024 * 1024).decode('utf-8'))
        except (OSError, ValueError):
            return None

    # -- containers --------------------------------------------------------

    def containers(self):
        """Every container: (list of facts, list of (container id, message) errors, disagreements)."""
        if self.client:
            return self._containers_from_api()
        found, errors = self.root.containers()
        facts = [container.facts() for container in found]
        # A container whose config cannot be read is still a container: list it, so
        # that it is selected and its raw files are preserved as found.
        facts.extend(unreadable_facts(self.root, error) for error in errors)
        return facts, [(error.container_id, str(error)) for error in errors], []

    def _containers_from_api(self):
        facts, errors = [], []
        try:
            listed = self.client.containers(all_containers=True)
        except EngineAPIError as exc:
            raise SourceError('listing containers failed: %s' % exc)
        for entry in listed:
            container_id = entry.get('Id')
            try:
                facts.append(facts_from_inspect(self.client.inspect_container(container_id)))
            except EngineNotFound:
                errors.append((container_id, 'container %s was removed while being listed' % container_id))
            except EngineAPIError as exc:
                errors.append((container_id, 'container %s: %s' % (container_id, exc)))
        disagreements = []
        if self.root is not None:
            disagreements = self._compare_with_disk(facts, errors)
        return facts, errors, disagreements

    def _compare_with_disk(self, facts, errors):
        on_disk = {}
        disk_containers, disk_errors = self.root.containers()
        for container in disk_containers:
            on_disk[container.id] = container.facts()
        unreadable = {}
        for error in disk_errors:
            on_disk.setdefault(error.container_id, None)
            unreadable[error.container_id] = str(error)
        disagreements = []
        seen = set()
        for item in facts:
            seen.add(item['id'])
            disk = on_disk.get(item['id'])
            if item['id'] not in on_disk:
                disagreements.append({'container_id': item['id'], 'field': 'presence',
                                      'api': 'listed by the daemon', 'disk': 'no directory under containers/'})
                continue
            if disk is None:
                # the daemon has it loaded, the file it would load it from again is not readable
                disagreements.append({'container_id': item['id'], 'field': 'config_file',
                                      'api': 'loaded by the daemon', 'disk': unreadable.get(item['id'])})
                continue
            for key in ('mount_id', 'init_id', 'upper_dir'):
                if not item.get(key):
                    item[key] = disk.get(key)
            item['config_file'] = disk['config_file']
            for field in COMPARED_FIELDS:
                if item.get(field) != disk.get(field):
                    disagreements.append({'container_id': item['id'], 'field': field,
                                          'api': item.get(field), 'disk': disk.get(field)})
        for container_id, disk in sorted(on_disk.items()):
            if container_id in seen or disk is None:
                continue
            disk = dict(disk)
            disk['known_to_daemon'] = False
            facts.append(disk)
            disagreements.append({'container_id': container_id, 'field': 'presence',
                                  'api': 'not listed by the daemon', 'disk': 'config at %s' % disk['config_file']})
        return disagreements

    def container_refs(self):
        """(id, name) of every container, for selection; plus listing errors."""
        facts, errors, _disagreements = self.containers()
        refs = [(item['id'], item['name']) for item in facts]
        if self.root is not None:
            known = set(container_id for container_id, _name in refs)
            for container_id, _message in errors:
                if container_id and container_id not in known:
                    refs.append((container_id, None))
        return refs, facts, errors

    def select(self, requested):
        """Resolve user references to container ids; return (ids, facts by id, errors)."""
        refs, facts, listing_errors = self.container_refs()
        ids, selection_errors = resolve(requested, refs)
        by_id = dict((item['id'], item) for item in facts)
        errors = [(exc.requested, str(exc)) for exc in selection_errors]
        return ids, by_id, errors, listing_errors

    def disk_container(self, container_id):
        """The container's files on disk, or raise DockerRootError saying why not."""
        if self.root is None:
            raise DockerRootError('the Docker root cannot be read: %s' % self.root_error)
        return self.root.load_container(container_id)


__all__ = ['Target', 'SourceError', 'facts_from_inspect', 'ContainerConfigError', 'DockerRootError', 'EngineUnavailable']
