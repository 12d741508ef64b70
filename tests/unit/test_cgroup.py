"""Placing processes in containers by cgroup, and finding (only) a container's freezer."""

import pytest

from ansible_collections.dfir.docker.plugins.module_utils._cgroup import (
    FreezeError,
    container_ids_in,
    locate_freezer,
    parse_cgroup,
    parse_mountinfo,
)

CID = '9cca050d64bcdd79af5f7c9a674f59d24dcbe78f8b39e379933778b83355d475'
OTHER = 'a' * 64
HYBRID = ('9:name=systemd:/docker/%s\n6:freezer:/docker/%s\n1:cpu,cpuacct:/docker/%s\n0::/docker/%s\n' % ((CID,) * 4))
# A zombie on cgroup v1 has left its cgroups, but cgroup v2 still names the container.
ZOMBIE = '6:freezer:/\n1:cpu,cpuacct:/\n0::/docker/%s\n' % CID
SYSTEMD_V2 = '0::/system.slice/docker-%s.scope\n' % CID
MOUNTINFO = ('31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n'
             '37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer\n'
             '41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n')
V2_ONLY = '30 23 0:27 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n'


def test_every_driver_names_the_container_in_its_cgroup_paths():
    known = {CID, OTHER}
    assert container_ids_in(parse_cgroup(HYBRID), known) == [CID]
    assert container_ids_in(parse_cgroup(ZOMBIE), known) == [CID]
    assert container_ids_in(parse_cgroup(SYSTEMD_V2), known) == [CID]
    assert container_ids_in(parse_cgroup('0::/user.slice/user-1000.slice\n'), known) == []
    # An id the engine does not know (another engine's container) places nothing.
    assert container_ids_in(parse_cgroup(HYBRID), {OTHER}) == []


def test_the_v1_freezer_is_preferred_on_a_hybrid_host():
    version, directory = locate_freezer(parse_cgroup(HYBRID), parse_mountinfo(MOUNTINFO), CID)
    assert (version, directory) == ('v1', '/sys/fs/cgroup/freezer/docker/%s' % CID)


def test_cgroup_v2_freezes_the_scope():
    version, directory = locate_freezer(parse_cgroup(SYSTEMD_V2), parse_mountinfo(V2_ONLY), CID)
    assert (version, directory) == ('v2', '/sys/fs/cgroup/system.slice/docker-%s.scope' % CID)


def test_a_cgroup_that_does_not_name_the_container_is_never_frozen():
    with pytest.raises(FreezeError, match='no freezer cgroup that names container'):
        locate_freezer(parse_cgroup('6:freezer:/\n0::/\n'), parse_mountinfo(MOUNTINFO), CID)


def test_a_mount_of_a_sub_cgroup_is_rebased():
    mounts = parse_mountinfo('50 23 0:34 /docker /mnt/freezer\\040dir rw - cgroup cgroup rw,freezer\n')
    assert mounts[0]['mount_point'] == '/mnt/freezer dir'
    assert locate_freezer(parse_cgroup(HYBRID), mounts, CID) == ('v1', '/mnt/freezer dir/%s' % CID)
