"""The collection as users get it, checked end to end (the `package` stage of tests/run.sh).

1. `ansible-galaxy collection build` from a copy of the files git would commit, with what a working checkout
   holds besides them planted in it (galaxy.yml's build_ignore must keep it out of the tarball);
2. the tarball installed into an empty collections path, and `ansible-galaxy collection verify`;
3. `ansible-doc` of every role from the installed copy;
4. the demo's acquisition (demo/run.sh) run with Ansible loading dfir.docker from the installed copy
   only, against a private dockerd (tests/support/dockerd.py), never the machine's own engine;
5. execution-environment.yml turned into a build context with `ansible-builder create` (offline), and
   the installed collection's own dependencies read back with `ansible-builder introspect`.

    source .venv/dfir-env.sh && python tests/package/check_package.py
"""

import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile

import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, REPO)

from tests.support.dockerd import Dockerd, make_base  # noqa: E402


def check(condition, message):
    """A failed expectation: say what was wrong, without a traceback."""
    if not condition:
        raise SystemExit('package: %s' % message)


def step(text):
    print('\n=== %s' % text, flush=True)


def run(command, **kwargs):
    print('+ %s' % ' '.join(command), flush=True)
    return subprocess.run(command, check=True, **kwargs)


def output_of(command, **kwargs):
    return run(command, stdout=subprocess.PIPE, **kwargs).stdout.decode()


def committed_copy(work):
    """The files git would commit (tracked, and untracked but not ignored), copied into `work`/source."""
    source = os.path.join(work, 'source')
    files = subprocess.run(['git', 'ls-files', '-z', '--cached', '--others', '--exclude-standard'], cwd=REPO,
                           stdout=subprocess.PIPE, check=True).stdout
    subprocess.run(['rsync', '-a', '--from0', '--files-from=-', '--ignore-missing-args', REPO + '/', source + '/'],
                   input=files, check=True)
    return source


# What a working checkout holds besides the collection, git ignores, and galaxy.yml's build_ignore must keep out
# of a tarball built from the checkout itself: the venv, build outputs, the demo's cases, test output, caches and
# wheels. Planted in the copy the tarball is built from.
LEFTOVERS = ('.venv/bin/python3', '.build/demo/examiner_ed25519', 'cases/demo-20260101T000000Z/manifest.json',
             'tests/output/unit.log', '.pytest_cache/README.md', 'plugins/modules/__pycache__/engine_facts.cpython-311.pyc',
             'dfir_docker-0.1.0-py3-none-any.whl', 'wheelhouse/pip-25.0-py3-none-any.whl', '.ansible/collections/x',
             'changelogs/.plugin-cache.yaml', 'dfir-docker-0.0.9.tar.gz')


def build_and_install(work):
    with open(os.path.join(REPO, 'galaxy.yml')) as handle:
        galaxy = yaml.safe_load(handle)
    version = galaxy['version']
    step('1/5 ansible-galaxy collection build')
    source = committed_copy(work)
    for leftover in LEFTOVERS:
        os.makedirs(os.path.dirname(os.path.join(source, leftover)), exist_ok=True)
        with open(os.path.join(source, leftover), 'w') as handle:
            handle.write('not part of the collection\n')
    run(['ansible-galaxy', 'collection', 'build', '--output-path', work, source])
    tarball = os.path.join(work, 'dfir-docker-%s.tar.gz' % version)
    members = output_of(['tar', '-tzf', tarball]).split()
    for needed in ('roles/acquire/meta/argument_specs.yml', 'roles/triage/meta/argument_specs.yml',
                   'playbooks/acquire.yml', 'playbooks/triage.yml', 'meta/execution-environment.yml',
                   'plugins/modules/engine_facts.py'):
        check(needed in members, '%s is missing from the tarball' % needed)
    leftovers = [name for name in members if name.startswith(('.venv', '.build', 'cases/', 'tests/output'))
                 or name in LEFTOVERS or name.endswith(('.whl', '.pyc'))]
    check(not leftovers, 'the tarball holds leftovers (galaxy.yml build_ignore): %s' % leftovers[:5])
    print('%s: %d files' % (os.path.basename(tarball), len(members)))

    step('2/5 installed into an empty collections path, and verified against its own manifest')
    collections = os.path.join(work, 'collections')
    # Only the new path: this checkout (linked in .venv/collections) must neither satisfy nor shadow it.
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=collections, ANSIBLE_COLLECTIONS_SCAN_SYS_PATH='false')
    run(['ansible-galaxy', 'collection', 'install', '--offline', '-p', collections, tarball], env=env)
    listed = output_of(['ansible-galaxy', 'collection', 'list', 'dfir.docker', '-p', collections], env=env)
    check(re.search(r'^dfir\.docker\s+%s' % re.escape(version), listed, re.M),
          'dfir.docker %s is not listed in %s: %s' % (version, collections, listed))
    run(['ansible-galaxy', 'collection', 'verify', '--offline', '-p', collections, 'dfir.docker'], env=env)
    return version, tarball, collections, env


def role_docs(env):
    step('3/5 ansible-doc of every role, from the installed copy')
    for role in sorted(os.listdir(os.path.join(REPO, 'roles'))):
        text = output_of(['ansible-doc', '-t', 'role', 'dfir.docker.%s' % role], env=dict(env, ANSIBLE_NOCOLOR='1'))
        check(re.search(r'ENTRY POINT: \W*main\W', text), 'ansible-doc -t role dfir.docker.%s: %s' % (role, text[:500]))
        print('dfir.docker.%s: documented' % role)


def demo(collections):
    step('4/5 the demo, with dfir.docker loaded from the installed copy, on a private dockerd')
    daemon = Dockerd(make_base('dfir-package-'))
    daemon.start()
    try:
        env = dict(os.environ, DFIR_DOCKER_HOST=daemon.host, DFIR_COLLECTIONS_PATH=collections)
        process = subprocess.run(['bash', os.path.join(REPO, 'demo', 'run.sh')], env=env, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, check=False)
        text = process.stdout.decode(errors='replace')
        print(text)
        check(process.returncode == 0, 'demo/run.sh failed (exit %d)' % process.returncode)
        # the collection the demo's playbooks came from is the installed one
        check('collection dfir.docker from %s' % os.path.join(collections, 'ansible_collections') in text,
              'the demo did not say it used the installed collection')
        check('signature for demo-examiner' in text and 'The exploit, as the incident container logged it' in text,
              'the demo did not verify its case or show the exploit')
        # The demo keeps its cases in the checkout's cases/; this one was only a check.
        sealed = re.search(r'^Done\. The sealed case is (\S+)$', text, re.M)
        if sealed and os.path.dirname(sealed.group(1)) == os.path.join(REPO, 'cases'):
            shutil.rmtree(sealed.group(1))
    finally:
        daemon.stop()
        shutil.rmtree(daemon.base, ignore_errors=True)


def execution_environment(work, version, tarball, collections):
    step('5/5 the execution environment, checked offline (ansible-builder create; no image is built)')
    definition = os.path.join(REPO, 'execution-environment.yml')
    with open(definition) as handle:
        ee = yaml.safe_load(handle)
    wanted = '.build/ee/dfir-docker-%s.tar.gz' % version
    check([item['src'] for item in ee['additional_build_files']] == [wanted], 'the EE must name %s' % wanted)
    # The definition reads the tarball from .build/ee beside it: give it a copy of the one built here.
    ee_dir = os.path.join(work, 'ee')
    os.makedirs(os.path.join(ee_dir, '.build', 'ee'))
    shutil.copy(definition, ee_dir)
    shutil.copy(tarball, os.path.join(ee_dir, wanted))
    context = os.path.join(work, 'context')
    run(['ansible-builder', 'create', '-f', os.path.join(ee_dir, 'execution-environment.yml'), '--context', context,
         '--output-filename', 'Containerfile'])
    containerfile = open(os.path.join(context, 'Containerfile')).read()
    check('ansible-galaxy collection install' in containerfile and 'FROM $EE_BASE_IMAGE' in containerfile,
          'the Containerfile installs no collection')
    check(glob.glob(os.path.join(context, '_build', 'collections', 'dfir-docker-%s.tar.gz' % version)),
          'the build context lacks the collection tarball')
    print('build context: %s' % ', '.join(sorted(os.listdir(context))))
    introspected = output_of(['ansible-builder', 'introspect', collections])
    print(introspected)
    check('jmespath' in introspected and 'openssh-client' in introspected, 'the collection\'s EE dependencies')


def main():
    if os.geteuid() != 0:
        sys.exit('run as root: the demo starts a private dockerd')
    work = tempfile.mkdtemp(prefix='dfir-package-', dir='/var/tmp')
    try:
        version, tarball, collections, env = build_and_install(work)
        role_docs(env)
        demo(collections)
        execution_environment(work, version, tarball, collections)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print('\npackage: built, installed, documented, demo run from the installed copy, EE definition checked')


if __name__ == '__main__':
    main()
