"""chain_ids against the layer database a real daemon wrote while building the scenario's image."""

import json
import os

from ansible_collections.dfir.docker.plugins.module_utils._docker_root import chain_ids


def read(path):
    with open(path) as handle:
        return handle.read().strip()


def test_every_layer_directory_is_named_by_the_chain_id_of_its_parent_and_diff(dockerd, scenario):
    layerdb = os.path.join(dockerd.data_root, 'image', 'overlay2', 'layerdb', 'sha256')
    with_parent = 0
    for name in os.listdir(layerdb):
        diff_id = read(os.path.join(layerdb, name, 'diff'))
        parent = os.path.join(layerdb, name, 'parent')
        prefix = [read(parent)] if os.path.exists(parent) else []
        with_parent += bool(prefix)
        assert chain_ids(prefix + [diff_id])[-1] == 'sha256:' + name
    assert with_parent >= 3   # the scenario image stacks three layers on its base


def test_the_chain_ids_of_the_images_diff_ids_are_its_layers_in_the_database(dockerd, scenario):
    config_path = os.path.join(dockerd.data_root, 'image', 'overlay2', 'imagedb', 'content', 'sha256',
                               scenario.image_id.split(':')[1])
    with open(config_path) as handle:
        diff_ids = json.load(handle)['rootfs']['diff_ids']
    layerdb = os.path.join(dockerd.data_root, 'image', 'overlay2', 'layerdb', 'sha256')
    chain = chain_ids(diff_ids)
    for index, (diff_id, chain_id) in enumerate(zip(diff_ids, chain)):
        directory = os.path.join(layerdb, chain_id.split(':')[1])
        assert read(os.path.join(directory, 'diff')) == diff_id
        if index:
            assert read(os.path.join(directory, 'parent')) == chain[index - 1]
        else:
            assert not os.path.exists(os.path.join(directory, 'parent'))
