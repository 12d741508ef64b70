"""The scenario on the session's private dockerd, built once, and module runs shared by many tests.

Module calls are batched: one run of each module over every scenario
container, per source, feeds all the tests that only read its result.
"""

import hashlib
import json
import os

import pytest

from tests.support.ansible_run import run_module
from tests.support.scenario import Scenario


@pytest.fixture(scope='session')
def scenario(dockerd):
    return Scenario(dockerd).build()


@pytest.fixture(scope='session')
def sdk(dockerd):
    client = dockerd.sdk()
    yield client
    client.close()


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, 'rb') as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b''):
            digest.update(chunk)
    return digest.hexdigest()


class Run:
    """One module run: its result, and the staging dir it wrote into."""

    def __init__(self, result, evidence_dir):
        self.result = result
        self.evidence_dir = evidence_dir

    def artifacts(self, container_id=None, kind=None):
        return [item for item in self.result['artifacts']
                if (container_id is None or item['container_id'] == container_id) and (kind is None or item['kind'] == kind)]

    def artifact(self, relpath):
        found = [item for item in self.result['artifacts'] if item['path'] == relpath]
        assert len(found) == 1, 'artifact %s: %d records' % (relpath, len(found))
        return found[0]

    def path(self, relpath):
        return os.path.join(self.evidence_dir, relpath)

    def read(self, relpath):
        with open(self.path(relpath), 'rb') as handle:
            return handle.read()

    def json(self, relpath):
        return json.loads(self.read(relpath).decode('utf-8'))

    def outcome(self, container_id):
        found = [item for item in self.result['containers'] if item.get('id') == container_id]
        assert len(found) == 1, found
        return found[0]


def module_run(name, args, tmp_path_factory, check_mode=False):
    evidence_dir = str(tmp_path_factory.mktemp(name) / 'staging')
    if 'evidence_dir' in args:
        args = dict(args, evidence_dir=evidence_dir)
    return Run(run_module(name, args, check_mode=check_mode), evidence_dir)


def source_args(dockerd, source):
    args = {'docker_host': dockerd.host, 'source': source}
    if source == 'disk':
        args['docker_root'] = dockerd.data_root
    return args


@pytest.fixture(scope='session')
def facts(dockerd, scenario, tmp_path_factory):
    """engine_facts through the API and from the disk of the same daemon."""
    return {source: module_run('engine_facts', source_args(dockerd, source), tmp_path_factory)
            for source in ('api', 'disk')}


@pytest.fixture(scope='session')
def inspected(dockerd, scenario, tmp_path_factory):
    return {source: module_run('container_inspect', dict(source_args(dockerd, source), evidence_dir=True),
                               tmp_path_factory) for source in ('api', 'disk')}


@pytest.fixture(scope='session')
def logs(dockerd, scenario, tmp_path_factory):
    """container_logs with its defaults through the API and from disk, and through the API with api_logs=always."""
    runs = {source: module_run('container_logs', dict(source_args(dockerd, source), evidence_dir=True),
                               tmp_path_factory) for source in ('api', 'disk')}
    runs['always'] = module_run('container_logs', dict(source_args(dockerd, 'api'), evidence_dir=True,
                                                       api_logs='always'), tmp_path_factory)
    return runs
