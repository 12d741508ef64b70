"""Give ansible-test an offline stand-in for the pip bootstrap script it downloads.

ansible-test starts each sanity venv by fetching get-pip-<version>.py from
ci-files.testing.ansible.com, which is not reachable here. This writes a
small script of our own into its cache that installs pip from the PyPI
wheel of the same version, fetched into the same cache dir with pip.
"""

import os
import re
import subprocess
import sys

STAND_IN = '''\
# Offline stand-in for get-pip.py, written by dfir.docker's tests/sanity/offline_pip_bootstrap.py.
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
WHEEL = os.path.join(HERE, {wheel!r})
# get-pip.py options that pip itself does not know
ARGS = [arg for arg in sys.argv[1:] if arg not in ('--no-setuptools', '--no-wheel')]
sys.path.insert(0, WHEEL)
from pip._internal.cli.main import main  # noqa: E402

sys.exit(main(['install', '--no-index', '--find-links', HERE] + ARGS))
'''


def pip_version():
    import ansible_test._internal.python_requirements as requirements
    source = open(requirements.__file__).read()
    match = re.search(r"pip='([0-9.]+)'", source)
    if not match:
        sys.exit('cannot find the pip version ansible-test wants')
    return match.group(1)


def main():
    version = pip_version()
    cache = os.path.expanduser('~/.ansible/test/cache')
    os.makedirs(cache, exist_ok=True)
    wheel = 'pip-%s-py3-none-any.whl' % version
    if not os.path.exists(os.path.join(cache, wheel)):
        subprocess.run([sys.executable, '-m', 'pip', 'download', '-q', '--no-deps', '--only-binary', ':all:',
                        'pip==%s' % version, '-d', cache], check=True)
    script = os.path.join(cache, 'get_pip_%s.py' % version.replace('.', '_'))
    with open(script, 'w') as handle:
        handle.write(STAND_IN.format(wheel=wheel))
    print('ansible-test pip bootstrap: %s (from %s)' % (script, wheel))


if __name__ == '__main__':
    main()
