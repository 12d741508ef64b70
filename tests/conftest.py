"""Shared fixtures: a real private dockerd per test session, images built offline, the shared real roots.

Nothing here is mocked: tests that need a daemon get a real one, started
here and stopped here by its pid.
"""

import os
import shutil
import sys
import tarfile

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, os.environ.get('DFIR_COLLECTIONS_PATH', os.path.join(REPO, '.venv', 'collections')))

from tests.support.dockerd import Dockerd, make_base  # noqa: E402
from tests.support.images import ensure_base  # noqa: E402

# Beside the checkout; or beside the ansible_collections tree that holds it (ansible-test's copy).
SHARED_ROOTS = os.environ.get('DFIR_SHARED_ROOTS') or next(
    (path for path in (os.path.join(REPO, '..', 'shared', 'data', 'docker-roots'),
                       os.path.join(REPO, '..', '..', '..', 'shared', 'data', 'docker-roots')) if os.path.isdir(path)),
    os.path.join(REPO, '..', 'shared', 'data', 'docker-roots'))


def pytest_configure(config):
    config.addinivalue_line('markers', 'daemon: needs a real dockerd started by the test session (root)')


def _session_daemon(**options):
    if os.geteuid() != 0:
        pytest.fail('integration tests run as root: they start their own dockerd (run the README test command)')
    daemon = Dockerd(make_base(), **options)
    daemon.start()
    try:
        ensure_base(daemon)
        yield daemon
    finally:
        daemon.stop()
        shutil.rmtree(daemon.base, ignore_errors=True)


@pytest.fixture(scope='session')
def dockerd():
    """A real dockerd on a private socket, with the offline base image imported."""
    yield from _session_daemon()


@pytest.fixture(scope='session')
def dockerd_remapped():
    """A second real dockerd with --userns-remap=default (own data root, exec root, socket and pidfile).

    dockerd itself creates the dockremap user and its /etc/subuid and /etc/subgid ranges when missing.
    """
    yield from _session_daemon(userns_remap='default')


@pytest.fixture(scope='session')
def shared_roots(tmp_path_factory):
    """The real Docker roots of ../shared/data/docker-roots, each extracted once into a temporary dir.

    Under pytest's own temp dir: ansible-test units runs each test in a forked child, which sets a
    session fixture up and exits without its teardown; pytest keeps only its last few temp dirs."""
    if not os.path.isdir(SHARED_ROOTS):
        pytest.fail('the shared Docker roots are missing at %s (set DFIR_SHARED_ROOTS)' % SHARED_ROOTS)
    base = str(tmp_path_factory.mktemp('dfir-roots'))
    roots = {}
    for name in ('overlay2.v2', 'aufs.v1', 'vols.v2'):
        target = os.path.join(base, name)
        os.makedirs(target)
        with tarfile.open(os.path.join(SHARED_ROOTS, name + '.tgz')) as archive:
            archive.extractall(target, filter='tar') if hasattr(tarfile, 'tar_filter') else archive.extractall(target)
        roots[name] = os.path.join(target, 'docker')
    yield roots
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture()
def staging(tmp_path_factory):
    """A fresh staging dir on the host for one test (not under the daemon's root)."""
    return str(tmp_path_factory.mktemp('staging') / 'evidence')
