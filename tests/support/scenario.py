"""Scenario containers on a private dockerd, with the ground truth the tests check against.

Everything here is made by the test run itself: a multi-layer image built
offline, and containers in known states printing known lines. Tests read the
ground truth from `Scenario`, never from the modules' own output.
"""

import time

from tests.support.images import BASE_TAG, build

IMAGE_TAG = 'dfir-test/app:1'
VOLUME = 'dfir-test-volume'

# Four filesystem layers on top of the base (ENV and LABEL make none):
# a COPY, a RUN that adds files, and a RUN that deletes one (a whiteout).
DOCKERFILE = '''FROM %s
COPY app.sh /usr/bin/app.sh
RUN mkdir -p /srv/data && echo seed > /srv/data/seed.txt && echo doomed > /srv/data/doomed.txt
RUN rm /srv/data/doomed.txt && chmod 755 /usr/bin/app.sh
ENV APP_MODE=test
LABEL org.example.image=dfir-app
''' % BASE_TAG
IMAGE_LABELS = {'org.example.image': 'dfir-app'}
APP_SH = b'#!/bin/sh\necho "app $*"\n'

# Lines printed by the container whose json-file log rotates (1k files, 3 kept, compressed).
ROTATED_LINES = ['rotation line %04d %s' % (number, 'x' * 40) for number in range(1, 301)]
STDOUT_LINES = ['out %d to stdout' % number for number in range(1, 4)]
STDERR_LINES = ['err %d to stderr' % number for number in range(1, 3)]
STOPPED_EXIT_CODE = 3
LABELS = {'com.example.tier': 'web', 'com.example.case': 'IR-42'}


def _print_lines(lines):
    return ' '.join("'%s'" % line for line in lines)


class Scenario:
    """Containers by role; each entry: id, name, and what the test knows about it."""

    def __init__(self, dockerd):
        self.dockerd = dockerd
        self.containers = {}
        self.image_id = None

    def __getitem__(self, role):
        return self.containers[role]

    def ids(self):
        return [item['id'] for item in self.containers.values()]

    def build(self):
        build(self.dockerd, IMAGE_TAG, DOCKERFILE, {'app.sh': APP_SH})
        self.image_id = self.dockerd.inspect(IMAGE_TAG)['Id']
        self.dockerd.docker('volume', 'create', VOLUME)
        run = self._run
        run('running', ['-d'] + sum((['--label', '%s=%s' % item] for item in sorted(LABELS.items())), []),
            ['sh', '-c', 'for l in %s; do echo "$l"; done; for l in %s; do echo "$l" >&2; done; exec sleep 3600'
             % (_print_lines(STDOUT_LINES), _print_lines(STDERR_LINES))],
            state='running', stdout=STDOUT_LINES, stderr=STDERR_LINES, labels=dict(IMAGE_LABELS, **LABELS))
        run('stopped', ['-d'], ['sh', '-c', 'echo bye; exit %d' % STOPPED_EXIT_CODE],
            state='exited', exit_code=STOPPED_EXIT_CODE, wait_exit=True)
        run('paused', ['-d'], ['sleep', '3600'], state='paused')
        run('rotated', ['-d', '--log-opt', 'max-size=1k', '--log-opt', 'max-file=3', '--log-opt', 'compress=true'],
            ['sh', '-c', 'for l in %s; do echo "$l"; done' % _print_lines(ROTATED_LINES)],
            state='exited', exit_code=0, wait_exit=True, lines=ROTATED_LINES, log_driver='json-file')
        run('local_log', ['-d', '--log-driver', 'local'], ['sh', '-c', 'echo local one; echo local two'],
            state='exited', exit_code=0, wait_exit=True, log_driver='local')
        run('no_log', ['-d', '--log-driver', 'none'], ['sh', '-c', 'echo into the void; sleep 3600'],
            state='running', log_driver='none')
        run('tty', ['-d', '-t'], ['sh', '-c', 'echo on a tty; exec sleep 3600'], state='running', tty=True)
        run('volume', ['-d', '-v', '%s:/data' % VOLUME, '--tmpfs', '/scratch:size=1m',
                       '--mount', 'type=tmpfs,destination=/cache,tmpfs-size=65536'],
            ['sh', '-c', 'echo kept > /data/kept.txt; exec sleep 3600'], state='running',
            volume=VOLUME, tmpfs='/scratch')
        created_id = self.dockerd.docker('create', '--network', 'none', '--name', 'dfir-created', IMAGE_TAG, 'true')
        self.containers['created'] = {'id': created_id, 'name': 'dfir-created', 'state': 'created', 'log_driver': 'json-file'}
        self.dockerd.docker('pause', self['paused']['id'])
        self._wait_for_logs()
        return self

    def _run(self, role, options, command, wait_exit=False, **truth):
        name = 'dfir-%s' % role.replace('_', '-')
        # --stop-timeout 1: `sleep` as PID 1 ignores SIGTERM; the daemon's shutdown need not wait 10s for it
        container_id = self.dockerd.docker('run', '--network', 'none', '--stop-timeout', '1', '--name', name,
                                           *options, IMAGE_TAG, *command)
        entry = {'id': container_id, 'name': name}
        entry.update(truth)
        entry.setdefault('log_driver', 'json-file')
        self.containers[role] = entry
        if wait_exit:
            self.dockerd.docker('wait', container_id, timeout=120)

    def _wait_for_logs(self, timeout=30):
        """Every line the running containers print is in their logs (logs are written asynchronously)."""
        client = self.dockerd.sdk()
        wanted = [('running', True, False, STDOUT_LINES), ('running', False, True, STDERR_LINES),
                  ('tty', True, True, ['on a tty'])]
        deadline = time.time() + timeout
        try:
            while wanted and time.time() < deadline:
                role, stdout, stderr, lines = wanted[0]
                text = client.containers.get(self[role]['id']).logs(stdout=stdout, stderr=stderr).decode()
                if all(line in text for line in lines):
                    wanted.pop(0)
                else:
                    time.sleep(0.2)
        finally:
            client.close()
        if wanted:
            raise AssertionError('scenario container %s did not log its lines within %ss' % (wanted[0][0], timeout))
