# -*- coding: utf-8 -*-
# Copyright: dfir.docker contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Docker Engine API client over a unix socket, standard library only.

Private to the collection: the interface may change without notice.

It runs on the suspect host, so it must not need anything that is not in the
Python standard library.  Bodies are streamed, never read whole unless they
are small JSON documents.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import http.client
import json
import os
import re
import socket
import stat
from urllib.parse import quote, urlencode

DEFAULT_DOCKER_HOST = 'unix:///var/run/docker.sock'

# The newest API version this client was written against.  Older daemons are
# spoken to in their own version (Debian 12's engine speaks 1.41).
CLIENT_API_VERSION = '1.45'
# Below 1.24 the inspect documents lack fields the modules rely on.
MINIMUM_API_VERSION = '1.24'

_TOO_NEW = re.compile(r'client version (\d+\.\d+) is too new\. Maximum supported API version is (\d+\.\d+)', re.I)


class EngineAPIError(Exception):
    """The daemon answered, but with an error; `status` is the HTTP status."""

    def __init__(self, message, status=None):
        super(EngineAPIError, self).__init__(message)
        self.status = status


class EngineUnavailable(EngineAPIError):
    """No daemon could be reached at the socket."""


class EngineNotFound(EngineAPIError):
    """The daemon answered 404 for the object asked for."""


def version_tuple(version):
    return tuple(int(part) for part in str(version).split('.'))


def parse_docker_host(docker_host):
    """Return the socket path of a ``unix://`` docker_host."""
    if not docker_host:
        docker_host = DEFAULT_DOCKER_HOST
    if docker_host.startswith('unix://'):
        path = docker_host[len('unix://'):]
    elif docker_host.startswith('/'):
        path = docker_host
    else:
        raise EngineUnavailable(
            'docker_host %r is not supported: only unix sockets (unix:///path/to/docker.sock) are, '
            'so that nothing but the host itself talks to the engine' % docker_host)
    if not path:
        raise EngineUnavailable('docker_host %r names no socket path' % docker_host)
    return path


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, socket_path, timeout):
        http.client.HTTPConnection.__init__(self, 'localhost', timeout=timeout)
        self.socket_path = socket_path

    def connect(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.socket_path)
        except socket.timeout:
            sock.close()
            raise EngineUnavailable('the Docker daemon socket %s did not answer within %ss' % (self.socket_path, self.timeout))
        except OSError as exc:
            sock.close()
            raise EngineUnavailable(_describe_connect_error(self.socket_path, exc))
        self.sock = sock


def _describe_connect_error(socket_path, exc):
    if exc.errno == errno.ENOENT:
        return 'no Docker daemon socket at %s (is dockerd running? is docker_host right?)' % socket_path
    if exc.errno in (errno.EACCES, errno.EPERM):
        return 'permission denied on the Docker daemon socket %s (run with become: true or as a member of the docker group)' % socket_path
    if exc.errno == errno.ECONNREFUSED:
        # Linux answers ECONNREFUSED for a regular file too: say what the path really is.
        kind = _file_kind(socket_path)
        if kind != 'socket':
            return '%s is not a socket but a %s: docker_host must name the Docker daemon socket' % (socket_path, kind)
        return 'connection refused on %s: the socket exists but no daemon listens on it (dockerd stopped or crashed)' % socket_path
    if exc.errno == errno.ENOTSOCK:
        return '%s is not a socket' % socket_path
    return 'cannot connect to the Docker daemon socket %s: %s' % (socket_path, exc.strerror or exc)


def _describe_read_error(exc):
    if isinstance(exc, http.client.IncompleteRead):
        return '%d bytes read, %s more expected' % (len(exc.partial), exc.expected if exc.expected is not None else 'some')
    if isinstance(exc, socket.timeout):
        return 'no data within the timeout'
    return '%s: %s' % (type(exc).__name__, exc)


def _file_kind(path):
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return 'socket'  # gone meanwhile: keep the daemon's own answer
    if stat.S_ISSOCK(mode):
        return 'socket'
    if stat.S_ISREG(mode):
        return 'regular file'
    if stat.S_ISDIR(mode):
        return 'directory'
    return 'special file'


class EngineResponse:
    """A streamed response body; use as a context manager, read with `chunks()`."""

    def __init__(self, connection, response):
        self._connection = connection
        self._response = response
        self.status = response.status
        self.headers = response.headers

    def _read(self, size):
        """Up to `size` bytes of the body; a daemon that dies or drops the connection mid-body
        (IncompleteRead, a reset, a timeout) is an EngineAPIError, like any other answer it failed to give."""
        try:
            return self._response.read(size)
        except (OSError, http.client.HTTPException) as exc:
            raise EngineAPIError('the Docker daemon closed the stream before the end of the response: %s'
                                 % (_describe_read_error(exc)))

    def chunks(self, size=1024 * 1024):
        while True:
            data = self._read(size)
            if not data:
                return
            yield data

    def read_exactly(self, size):
        """Read `size` bytes, or fewer only at the end of the body."""
        parts = []
        remaining = size
        while remaining:
            data = self._read(remaining)
            if not data:
                break
            parts.append(data)
            remaining -= len(data)
        return b''.join(parts)

    def close(self):
        try:
            self._response.close()
        finally:
            self._connection.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


class EngineClient:
    """Talks to one Docker daemon; negotiates the API version on first use."""

    def __init__(self, docker_host=None, timeout=60, api_version=None):
        self.docker_host = docker_host or DEFAULT_DOCKER_HOST
        self.socket_path = parse_docker_host(self.docker_host)
        self.timeout = timeout
        self._api_version = api_version

    # -- low level -------------------------------------------------------

    def _open(self, method, path, params=None, versioned=True, timeout=None):
        url = path
        if versioned:
            url = '/v%s%s' % (self.api_version, path)
        if params:
            url += '?' + urlencode(params)
        connection = _UnixHTTPConnection(self.socket_path, self.timeout if timeout is None else timeout)
        try:
            connection.request(method, url, headers={'Host': 'docker'})
            response = connection.getresponse()
        except EngineAPIError:
            connection.close()
            raise
        except socket.timeout:
            connection.close()
            raise EngineUnavailable('the Docker daemon at %s did not answer %s %s within %ss' % (self.socket_path, method, path, connection.timeout))
        except (OSError, http.client.HTTPException) as exc:
            connection.close()
            raise EngineUnavailable('the Docker daemon at %s failed on %s %s: %s' % (self.socket_path, method, path, exc))
        return connection, response

    def request(self, method, path, params=None, versioned=True, timeout=None):
        """Send a request; return an EngineResponse for a 2xx answer, else raise."""
        connection, response = self._open(method, path, params, versioned, timeout)
        if 200 <= response.status < 300:
            return EngineResponse(connection, response)
        try:
            body = response.read(64 * 1024)
        finally:
            connection.close()
        message = _error_message(body) or response.reason
        if versioned and response.status == 400:
            match = _TOO_NEW.search(message)
            if match:
                # Negotiation said one thing and the daemon another: trust the daemon.
                self._api_version = match.group(2)
                return self.request(method, path, params, versioned, timeout)
        error_class = EngineNotFound if response.status == 404 else EngineAPIError
        raise error_class('Docker daemon answered %s to %s %s: %s' % (response.status, method, path, message), status=response.status)

    def get_raw(self, path, params=None, versioned=True, limit=64 * 1024 * 1024):
        """The whole body of a small document, as the daemon sent it."""
        with self.request('GET', path, params, versioned) as response:
            parts, total = [], 0
            for chunk in response.chunks():
                total += len(chunk)
                if total > limit:
                    raise EngineAPIError('the answer to %s is larger than %d bytes' % (path, limit))
                parts.append(chunk)
        return b''.join(parts)

    def get_json(self, path, params=None, versioned=True):
        body = self.get_raw(path, params, versioned)
        try:
            return json.loads(body.decode('utf-8'))
        except ValueError as exc:
            raise EngineAPIError('Docker daemon sent a document for %s that is not JSON: %s' % (path, exc))

    # -- negotiation -----------------------------------------------------

    @property
    def api_version(self):
        if self._api_version is None:
            self._api_version = self.negotiate()
        return self._api_version

    def negotiate(self):
        """Agree on the highest API version both sides speak."""
        server = None
        try:
            with self.request('GET', '/_ping', versioned=False) as response:
                server = response.headers.get('API-Version')
        except EngineUnavailable:
            raise
        except EngineAPIError:
            server = None
        if not server:
            server = self.get_json('/version', versioned=False).get('ApiVersion')
        if not server:
            return CLIENT_API_VERSION
        if version_tuple(server) < version_tuple(MINIMUM_API_VERSION):
            raise EngineAPIError('the Docker daemon speaks API %s; at least %s is needed' % (server, MINIMUM_API_VERSION))
        return min(server, CLIENT_API_VERSION, key=version_tuple)

    def ping(self):
        """True when a daemon answers on the socket."""
        try:
            with self.request('GET', '/_ping', versioned=False, timeout=min(self.timeout, 10)):
                return True
        except EngineAPIError:
            return False

    # -- endpoints -------------------------------------------------------

    def version(self):
        return self.get_json('/version')

    def info(self):
        return self.get_json('/info')

    def containers(self, all_containers=True):
        return self.get_json('/containers/json', {'all': '1' if all_containers else '0'})

    def inspect_container(self, container_id):
        return self.get_json('/containers/%s/json' % quote(container_id, safe=''))

    def inspect_container_raw(self, container_id):
        return self.get_raw('/containers/%s/json' % quote(container_id, safe=''))

    def inspect_image_raw(self, image_id):
        return self.get_raw('/images/%s/json' % quote(image_id, safe=''))

    def image_history_raw(self, image_id):
        return self.get_raw('/images/%s/history' % quote(image_id, safe=''))

    def inspect_image(self, image_id):
        return self.get_json('/images/%s/json' % quote(image_id, safe=''))

    def image_history(self, image_id):
        return self.get_json('/images/%s/history' % quote(image_id, safe=''))

    def container_changes(self, container_id):
        return self.get_json('/containers/%s/changes' % quote(container_id, safe='')) or []

    def container_logs(self, container_id, timestamps=True):
        """Open the log stream of a container (all of it, no follow)."""
        params = {'stdout': '1', 'stderr': '1', 'timestamps': '1' if timestamps else '0', 'follow': '0'}
        return self.request('GET', '/containers/%s/logs' % quote(container_id, safe=''), params)

    def container_export(self, container_id):
        return self.request('GET', '/containers/%s/export' % quote(container_id, safe=''))


def _error_message(body):
    text = body.decode('utf-8', 'replace').strip()
    try:
        document = json.loads(text)
    except ValueError:
        return text
    if isinstance(document, dict) and document.get('message'):
        return document['message']
    return text


# Frame header of a multiplexed (non-TTY) attach or log stream: stream type, three
# zero bytes, then the payload length as a big-endian 32-bit number.
STREAM_NAMES = {0: 'stdin', 1: 'stdout', 2: 'stderr'}


def demultiplex(response):
    """Yield (stream name, payload) frames of a multiplexed log stream."""
    while True:
        header = response.read_exactly(8)
        if not header:
            return
        if len(header) < 8:
            raise EngineAPIError('the log stream ended inside a frame header')
        stream = STREAM_NAMES.get(header[0])
        if stream is None or header[1:4] != b'\0\0\0':
            raise EngineAPIError('the log stream is not multiplexed as expected (frame header %r)' % header)
        length = int.from_bytes(header[4:8], 'big')
        payload = response.read_exactly(length)
        if len(payload) < length:
            raise EngineAPIError('the log stream ended inside a frame')
        yield stream, payload
