"""Where each storage driver keeps layers, on small trees laid out the way each driver writes them."""

import os

from ansible_collections.dfir.docker.plugins.module_utils._storage import storage_driver


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w') as handle:
        handle.write(text)


def test_overlay2_resolves_short_links_from_each_layers_link_file_without_following_l(tmp_path):
    root = str(tmp_path)
    for layer, short in (('base', 'AAAA'), ('mid', 'BBBB'), ('ctr-init', 'CCCC')):
        write(os.path.join(root, 'overlay2', layer, 'link'), short)
        os.makedirs(os.path.join(root, 'overlay2', layer, 'diff'))
    write(os.path.join(root, 'overlay2', 'ctr', 'lower'), 'l/CCCC:l/BBBB:l/AAAA')
    os.makedirs(os.path.join(root, 'overlay2', 'ctr', 'diff'))
    os.makedirs(os.path.join(root, 'overlay2', 'l'))
    # a link that points out of the tree, as on a mounted image: never followed
    os.symlink('/etc', os.path.join(root, 'overlay2', 'l', 'AAAA'))
    info = storage_driver(root, 'overlay2').describe('ctr')
    assert [item['id'] for item in info['lower']] == ['ctr-init', 'mid', 'base']
    assert info['lower'][2]['dir'] == os.path.join(root, 'overlay2', 'base', 'diff')
    assert info['upper_dir'] == os.path.join(root, 'overlay2', 'ctr', 'diff') and info['upper_dir_exists']
    assert info['work_dir'] == os.path.join(root, 'overlay2', 'ctr', 'work')


def test_overlay2_falls_back_to_reading_the_l_symlink_when_no_link_file_names_it(tmp_path):
    root = str(tmp_path)
    os.makedirs(os.path.join(root, 'overlay2', 'l'))
    os.symlink('../orphan/diff', os.path.join(root, 'overlay2', 'l', 'DDDD'))
    write(os.path.join(root, 'overlay2', 'ctr', 'lower'), 'l/DDDD')
    (item,) = storage_driver(root, 'overlay2').lower_dirs('ctr')
    assert (item['id'], item['link']) == ('orphan', 'l/DDDD')


def test_overlay_keeps_a_full_root_per_image_layer_and_upper_over_lower_id_for_a_container(tmp_path):
    root = str(tmp_path)
    os.makedirs(os.path.join(root, 'overlay', 'img', 'root'))
    os.makedirs(os.path.join(root, 'overlay', 'ctr', 'upper'))
    write(os.path.join(root, 'overlay', 'ctr', 'lower-id'), 'img\n')
    driver = storage_driver(root, 'overlay')
    assert driver.layer_dir('img') == os.path.join(root, 'overlay', 'img', 'root')
    assert driver.layers_are_diffs is False
    info = driver.describe('ctr')
    assert info['upper_dir'] == os.path.join(root, 'overlay', 'ctr', 'upper') and info['upper_dir_exists']
    assert info['lower'] == [{'link': None, 'id': 'img', 'dir': os.path.join(root, 'overlay', 'img', 'root')}]


def test_aufs_lists_the_layers_under_a_container_newest_first(tmp_path):
    root = str(tmp_path)
    write(os.path.join(root, 'aufs', 'layers', 'ctr'), 'ctr-init\nimg2\nimg1\n')
    driver = storage_driver(root, 'aufs')
    assert driver.whiteout_format == 'aufs'
    assert [item['id'] for item in driver.describe('ctr')['lower']] == ['ctr-init', 'img2', 'img1']
    assert driver.layer_dir('img1') == os.path.join(root, 'aufs', 'diff', 'img1')


def test_vfs_and_an_unsupported_driver_are_named_and_have_no_lower_record(tmp_path):
    root = str(tmp_path)
    vfs = storage_driver(root, 'vfs')
    assert vfs.layer_dir('x') == os.path.join(root, 'vfs', 'dir', 'x') and vfs.describe('x')['lower'] is None
    btrfs = storage_driver(root, 'btrfs')
    assert btrfs.name == 'btrfs' and btrfs.layer_dir('x') == os.path.join(root, 'btrfs', 'x')
