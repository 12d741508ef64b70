"""The Engine API client against the real daemon: version negotiation, streams, and errors that say what failed."""

import json
import os
import shutil
import subprocess
import tempfile

import pytest

from ansible_collections.dfir.docker.plugins.module_utils._engine_api import (
    CLIENT_API_VERSION,
    EngineAPIError,
    EngineClient,
    EngineNotFound,
    EngineUnavailable,
    demultiplex,
    version_tuple,
)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_negotiation_picks_the_highest_version_both_sides_speak(dockerd, sdk):
    server = sdk.version()['ApiVersion']
    client = EngineClient(dockerd.host)
    assert client.api_version == min(server, CLIENT_API_VERSION, key=version_tuple)
    assert client.version()['ApiVersion'] == server


def test_a_daemon_that_answers_too_new_is_spoken_to_in_its_own_version(dockerd, sdk):
    server = sdk.version()['ApiVersion']
    client = EngineClient(dockerd.host, api_version='1.99')
    # the daemon answers 400 "client version 1.99 is too new"; the client retries in the daemon's version
    assert client.info()['DockerRootDir'] == dockerd.data_root
    assert client.api_version == server


def test_the_raw_inspect_is_the_daemons_own_bytes(dockerd, scenario):
    client = EngineClient(dockerd.host)
    raw = client.inspect_container_raw(scenario['running']['id'])
    assert json.loads(raw.decode()) == dockerd.inspect(scenario['running']['id'])


def test_a_log_stream_demultiplexes_into_the_lines_each_stream_got(dockerd, scenario):
    client = EngineClient(dockerd.host)
    with client.container_logs(scenario['running']['id'], timestamps=False) as response:
        frames = list(demultiplex(response))
    text = {'stdout': '', 'stderr': ''}
    for stream, payload in frames:
        text[stream] += payload.decode()
    assert text['stdout'].splitlines() == scenario['running']['stdout']
    assert text['stderr'].splitlines() == scenario['running']['stderr']


def test_an_unknown_container_is_not_found_with_the_daemons_words(dockerd):
    with pytest.raises(EngineNotFound) as caught:
        EngineClient(dockerd.host).inspect_container('no-such-container')
    assert caught.value.status == 404
    assert 'No such container: no-such-container' in str(caught.value)


def test_no_socket_says_so(tmp_path):
    with pytest.raises(EngineUnavailable, match='no Docker daemon socket at %s' % tmp_path):
        EngineClient('unix://%s/docker.sock' % tmp_path).version()


def test_a_regular_file_is_not_a_socket(tmp_path):
    path = tmp_path / 'docker.sock'
    path.write_text('not a socket')
    with pytest.raises(EngineUnavailable) as caught:
        EngineClient('unix://%s' % path).version()
    assert str(caught.value) == '%s is not a socket but a regular file: docker_host must name the Docker daemon socket' % path


def test_a_socket_nobody_listens_on_is_connection_refused(tmp_path):
    import socket
    path = str(tmp_path / 'dead.sock')
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.close()   # the socket file stays, nobody listens: a daemon that died
    with pytest.raises(EngineUnavailable, match='connection refused on %s' % path):
        EngineClient('unix://' + path).version()


def test_a_tcp_docker_host_is_refused_with_the_reason():
    with pytest.raises(EngineUnavailable, match='only unix sockets'):
        EngineClient('tcp://127.0.0.1:2375')


def test_permission_denied_is_reported_as_such_for_an_unprivileged_user(dockerd):
    """A real denial: the daemon's socket (0660 root:docker) linked into a dir anyone may enter,
    and a client run as nobody with no groups, with the host's own Python."""
    if not shutil.which('setpriv'):
        pytest.fail('setpriv (util-linux) is needed for this test')
    public_dir = tempfile.mkdtemp(prefix='dfir-sock-', dir=os.path.dirname(dockerd.base))
    try:
        os.chmod(public_dir, 0o755)
        linked = os.path.join(public_dir, 'docker.sock')
        os.link(dockerd.socket, linked)
        code = ('import sys; sys.path.insert(0, %r)\n'
                'from ansible_collections.dfir.docker.plugins.module_utils._engine_api import EngineClient, EngineUnavailable\n'
                'try:\n    EngineClient(%r).version()\nexcept EngineUnavailable as exc:\n    print(exc)\n'
                % (os.path.join(REPO, '.venv', 'collections'), 'unix://' + linked))
        process = subprocess.run(['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups',
                                  '/usr/bin/python3', '-I', '-S', '-c', code],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd='/', check=False)
        assert process.returncode == 0, process.stderr.decode()
        assert process.stdout.decode().strip() == (
            'permission denied on the Docker daemon socket %s (run with become: true or as a member of the docker group)'
            % linked)
        # root through the same link is let in: the denial was the socket's permissions, nothing else
        assert EngineClient('unix://' + linked).ping()
    finally:
        shutil.rmtree(public_dir, ignore_errors=True)


def test_daemon_error_text_reaches_the_message(dockerd):
    with pytest.raises(EngineAPIError) as caught:
        EngineClient(dockerd.host).get_json('/containers/json', {'filters': 'not json'})
    assert caught.value.status in (400, 500)
    assert 'GET /containers/json' in str(caught.value) and 'Docker daemon answered' in str(caught.value)
