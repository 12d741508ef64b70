#!/usr/bin/env bash
# Undo what demo/run.sh left on this machine: its containers and images, and the dockerd it
# started (only that one, by its pid; an engine that was already running is left alone).
# Cases (cases/) and the demo key (.build/demo/) are kept: delete them yourself when done.
#   bash demo/cleanup.sh
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
state="$repo/.build/demo"
docker_host=unix:///var/run/docker.sock
prefix=dfir-demo

[ "$(id -u)" = 0 ] || { echo "cleanup: run me as root, like demo/run.sh" >&2; exit 1; }
docker_cli() { /usr/bin/docker -H "$docker_host" "$@"; }

if timeout 10 /usr/bin/docker -H "$docker_host" version >/dev/null 2>&1; then
  docker_cli rm -f "$prefix-web" "$prefix-bystander" >/dev/null 2>&1 || true
  docker_cli rmi "$prefix/app:1" "$prefix/base:1" >/dev/null 2>&1 || true
  echo "removed the demo's containers and images"
fi

pidfile="$state/dockerd.pid"
if [ -f "$pidfile" ]; then
  pid=$(cat "$pidfile")
  # Stop it only if that pid is still the dockerd the demo started (pids are reused).
  if [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = dockerd ] && [ "$(cat /var/run/docker.pid 2>/dev/null)" = "$pid" ]; then
    kill -TERM "$pid"
    for _ in $(seq 1 60); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 1
    done
    kill -0 "$pid" 2>/dev/null && { echo "cleanup: dockerd $pid is still running after 60s" >&2; exit 1; }
    echo "stopped the dockerd the demo started (pid $pid)"
  fi
  rm -f "$pidfile"
fi
echo "kept: $repo/cases/ (the demo's cases) and $state/ (the demo key)"
