"""The version written into every manifest is the collection's own."""

import os

import yaml

from ansible_collections.dfir.docker.plugins.plugin_utils._version import NAME, VERSION

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_version_and_name_equal_galaxy_yml():
    with open(os.path.join(REPO, 'galaxy.yml')) as handle:
        galaxy = yaml.safe_load(handle)
    assert VERSION == galaxy['version']
    assert NAME == '%s.%s' % (galaxy['namespace'], galaxy['name'])
