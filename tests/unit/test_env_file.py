"""The environment file users source (.venv/dfir-env.sh, written by scripts/bootstrap.sh) keeps SSH host key
checking on; only the test harness, which makes its own throwaway hosts, turns it off for itself."""

import os
import re

from tests.support.ansible_run import REPO, ansible_env


def env_file_text():
    with open(os.path.join(REPO, 'scripts', 'bootstrap.sh')) as handle:
        script = handle.read()
    match = re.search(r'cat > "\$venv/dfir-env\.sh" <<ENV\n(.*?)\nENV\n', script, re.S)
    assert match, 'scripts/bootstrap.sh no longer writes .venv/dfir-env.sh the way this test reads it'
    return match.group(1)


def test_the_users_env_file_leaves_host_key_checking_on():
    text = env_file_text()
    assert 'ANSIBLE_COLLECTIONS_PATH' in text
    assert 'HOST_KEY_CHECKING' not in text


def test_the_test_harness_turns_it_off_for_its_own_hosts():
    assert ansible_env()['ANSIBLE_HOST_KEY_CHECKING'] == 'false'
