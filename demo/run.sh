#!/usr/bin/env bash
# The dfir.docker demo, end to end on this machine. As root, from anywhere:
#   bash demo/run.sh
# 1. bootstrap: Debian packages (docker.io, busybox-static, openssh-client) and a pinned venv
# 2. a Docker engine on /var/run/docker.sock: the one that answers, else Debian's dockerd, started here
# 3. images built offline and a small incident planted (demo/incident.py)
# 4. a demo examiner key in .build/demo/ (ed25519) and its allowed_signers
# 5. playbooks/acquire.yml against localhost: a new sealed case in cases/<case id>
# 6. the case verified: playbooks/verify.yml, then sha256sum and ssh-keygen alone
# 7. where the case is and what it holds
# Run it again: same images, new incident containers, a new case. Undo it: bash demo/cleanup.sh
#
# Two settings, for CI (tests/run.sh package) and for trying an installed collection:
#   DFIR_DOCKER_HOST=unix:///path/docker.sock   use that engine (it must answer: none is started for it)
#   DFIR_COLLECTIONS_PATH=/path                 load dfir.docker from there (an installed tarball), not this checkout
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
state="$repo/.build/demo"
case_root="$repo/cases"
docker_host=${DFIR_DOCKER_HOST:-unix:///var/run/docker.sock}
docker_socket=${docker_host#unix://}
dockerd_pidfile=/var/run/docker.pid
dockerd_log=/var/log/dockerd.log
examiner=demo-examiner
signing_key="$state/examiner_ed25519"
allowed_signers="$state/allowed_signers"
prefix=dfir-demo
# Only the demo's own containers, picked by their label (JMESPath): the engine may run others that are none
# of our business. JSON, so that the quotes reach Ansible as they are.
select_demo='{"dfir_select": "[?labels.\"dfir.demo\"]"}'

current_step="starting"
step() {
  current_step="$1"
  printf '\n=== %s\n' "$1"
}
fail() {
  printf 'demo: %s\n' "$*" >&2
  exit 1
}
trap 'printf "\ndemo: FAILED during: %s (see the output above)\n" "$current_step" >&2' ERR

# Debian's 20.10 client, which the bootstrap installs (a newer client elsewhere on PATH may not speak to it).
docker_cli() { /usr/bin/docker -H "$docker_host" "$@"; }

engine_answers() {
  timeout 10 /usr/bin/docker -H "$docker_host" version --format '{{.Server.Version}}' >/dev/null 2>&1
}

wait_for_engine() {  # wait_for_engine SECONDS [PID]: true once the engine answers, false if PID dies or time runs out
  local deadline=$((SECONDS + $1)) pid=${2:-}
  while [ "$SECONDS" -lt "$deadline" ]; do
    engine_answers && return 0
    if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
      return 1
    fi
    sleep 1
  done
  return 1
}

# dockerd by hand (no systemd): its own session, a pidfile, a log file. Extra arguments are dockerd flags.
start_dockerd() {
  echo "starting dockerd${*:+ $*} (log: $dockerd_log, pidfile: $dockerd_pidfile)"
  setsid dockerd --pidfile "$dockerd_pidfile" "$@" >>"$dockerd_log" 2>&1 </dev/null &
  local pid=$!
  if wait_for_engine 90 "$pid"; then
    echo "$pid" >"$state/dockerd.pid"  # so demo/cleanup.sh stops only a daemon the demo started
    return 0
  fi
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  return 1
}

ensure_engine() {
  if engine_answers; then
    echo "a Docker engine answers on $docker_socket: $(docker_cli version --format '{{.Server.Version}}')"
    return
  fi
  [ -z "${DFIR_DOCKER_HOST:-}" ] || fail "no Docker engine answers on $docker_host (DFIR_DOCKER_HOST); the demo starts none for it"
  if [ -d /run/systemd/system ]; then
    echo "no engine answers on $docker_socket: systemctl start docker"
    systemctl start docker || fail "systemctl start docker failed: see journalctl -u docker"
    wait_for_engine 90 || fail "docker started by systemd does not answer on $docker_socket: see journalctl -u docker"
    return
  fi
  echo "no engine answers on $docker_socket and there is no systemd: starting Debian's dockerd here"
  [ -e "$docker_socket" ] && fail "$docker_socket exists but nothing answers on it: is a dockerd hung? (see $dockerd_log)"
  if start_dockerd; then
    return
  fi
  # Machines without a bridge or iptables (a container, a locked-down VM): the demo's containers need no network.
  echo "dockerd did not start; trying again without container networking (--bridge none --iptables=false)"
  tail -n 5 "$dockerd_log" | sed 's/^/  dockerd: /'
  start_dockerd --bridge none --iptables=false --ip6tables=false ||
    fail "dockerd did not start; its log says: $(tail -n 5 "$dockerd_log")"
}

ensure_examiner_key() {
  if [ ! -f "$signing_key" ]; then
    ssh-keygen -q -t ed25519 -N '' -C "$examiner@dfir.docker.demo" -f "$signing_key"
    echo "created the demo examiner key $signing_key"
  else
    echo "using the demo examiner key $signing_key"
  fi
  # allowed_signers: who may sign, for what namespace. A real examiner's would come from a trusted place.
  printf '%s namespaces="dfir.docker" %s\n' "$examiner" "$(cut -d' ' -f1,2 "$signing_key.pub")" >"$allowed_signers"
}

new_case_id() {
  local id
  id="demo-$(date -u +%Y%m%dT%H%M%SZ)"
  while [ -e "$case_root/$id" ]; do
    sleep 1
    id="demo-$(date -u +%Y%m%dT%H%M%SZ)"
  done
  echo "$id"
}

# Staging on a tmpfs when there is one: not on the disk that holds /var/lib/docker, whose deleted blocks are evidence.
staging_dir() {
  if [ "$(stat -f -c %T /dev/shm 2>/dev/null)" = tmpfs ]; then
    echo /dev/shm/dfir-docker
  else
    echo /var/tmp/dfir-docker
  fi
}

show_command() {  # print a command so that it can be pasted back into a shell
  local arg out='+'
  for arg in "$@"; do
    if [[ "$arg" =~ ^[A-Za-z0-9_./=:@,+-]+$ ]]; then
      out+=" $arg"
    else
      out+=" '${arg//\'/\'\\\'\'}'"
    fi
  done
  printf '%s\n' "$out"
}

[ "$(id -u)" = 0 ] || fail "run me as root (sudo bash demo/run.sh): I install Debian packages, may start dockerd, and read /var/lib/docker"

step "1/7 Bootstrap: Debian packages and the pinned Python environment"
bash "$repo/scripts/bootstrap.sh" runtime
# shellcheck source=/dev/null
source "$repo/.venv/dfir-env.sh"
if [ -n "${DFIR_COLLECTIONS_PATH:-}" ]; then
  export ANSIBLE_COLLECTIONS_PATH="$DFIR_COLLECTIONS_PATH"
fi
mkdir -p "$state" "$case_root"
chmod 700 "$state"
echo "ansible-core $(python -c 'import ansible.release as r; print(r.__version__)') in $repo/.venv"
# The playbooks are run by name (dfir.docker.acquire): they come from the collection found here.
ansible-galaxy collection list dfir.docker 2>/dev/null | sed -n 's/^# /collection dfir.docker from /p; /^dfir\.docker /p'

step "2/7 A Docker engine on $docker_socket"
ensure_engine

step "3/7 Images built offline and a small incident"
python "$repo/demo/incident.py" --docker-host "$docker_host" --prefix "$prefix" --output "$state/incident.json"
python - "$state/incident.json" <<'EOF'
import json, sys
truth = json.load(open(sys.argv[1]))
web, bystander, app = truth['incident'], truth['bystander'], truth['images']['app']
print('image      %s  %s, %d layers, built with --network none' % (app['tag'], app['id'][7:19], app['layers']))
print('incident   %s  %s  running as %s: dropped %s, deleted %s, logged an exploit'
      % (web['name'], web['id'][:12], web['user'], ', '.join(web['dropped']), ', '.join(web['deleted'])))
print('bystander  %s  %s  exited with %s' % (bystander['name'], bystander['id'][:12], bystander['exit_code']))
EOF

step "4/7 The demo examiner's signing key"
ensure_examiner_key

step "5/7 Acquisition: the playbook dfir.docker.acquire against localhost"
case_id=$(new_case_id)
case_dir="$case_root/$case_id"
acquire=(ansible-playbook -i "$repo/demo/inventory.yml" dfir.docker.acquire
  -e "dfir_case_id=$case_id" -e "dfir_case_root=$case_root"
  -e "dfir_examiner=$examiner" -e "dfir_signing_key=$signing_key"
  -e "dfir_docker_host=$docker_host" -e "dfir_evidence_dir=$(staging_dir)"
  -e "$select_demo")
show_command "${acquire[@]}"
(cd "$repo" && "${acquire[@]}") || fail "the acquisition failed (see above); the case, if sealed, is $case_dir"

step "6/7 Verification of the sealed case"
verify=(ansible-playbook -i "localhost," dfir.docker.verify -e "dfir_case_dir=$case_dir" -e "dfir_allowed_signers=$allowed_signers")
show_command "${verify[@]}"
(cd "$repo" && ANSIBLE_LOCALHOST_WARNING=false ANSIBLE_INVENTORY_UNPARSED_WARNING=false "${verify[@]}") || fail "playbooks/verify.yml rejected the case $case_dir"
echo
echo "The same with standard tools only, from inside the case:"
cd "$case_dir"
echo "+ sha256sum -c --quiet SHA256SUMS"
sha256sum -c --quiet SHA256SUMS || fail "sha256sum -c SHA256SUMS failed in $case_dir"
echo "  all $(wc -l <SHA256SUMS) files listed in SHA256SUMS match"
echo "+ ssh-keygen -Y verify -f $allowed_signers -I $examiner -n dfir.docker -s manifest.json.sig < manifest.json"
ssh-keygen -Y verify -f "$allowed_signers" -I "$examiner" -n dfir.docker -s manifest.json.sig <manifest.json |
  sed 's/^/  /' || fail "the signature of $case_dir/manifest.json does not verify"

step "7/7 The case"
python "$repo/demo/show_case.py" "$case_dir"
incident_id=$(python -c 'import json,sys; print(json.load(open(sys.argv[1]))["incident"]["id"])' "$state/incident.json")
echo
echo "The exploit, as the incident container logged it (grep -h 203.0.113.7 in its collected logs):"
grep -h 203.0.113.7 "$case_dir/hosts/localhost/containers/$incident_id/logs/"* | sed 's/^/  /' ||
  fail "the collected logs of $incident_id do not hold the exploit lines the incident wrote"
cat <<EOF

Done. The sealed case is $case_dir
  check it again later:  cd $case_dir && sha256sum -c SHA256SUMS
  the manifest:          python3 -m json.tool $case_dir/manifest.json | less
  run the demo again:    bash $repo/demo/run.sh      (a new case each time)
  remove the demo's containers and images (and the dockerd it started): bash $repo/demo/cleanup.sh
EOF
