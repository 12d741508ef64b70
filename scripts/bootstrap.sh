#!/usr/bin/env bash
# Prepare this machine for the demo (runtime) or the test suite (dev).
# Idempotent: a second run installs nothing new.
#   scripts/bootstrap.sh runtime|dev
# Leaves .venv/ (pinned Python packages) and .venv/collections/ (this checkout
# as the collection dfir.docker); source .venv/dfir-env.sh to use them.
set -euo pipefail

profile=${1:-runtime}
repo=$(cd "$(dirname "$0")/.." && pwd)
venv="$repo/.venv"

runtime_packages=(docker.io busybox-static openssh-client python3)
dev_packages=(openssh-server sudo gdb procps rsync shellcheck)

need_root() {
  if [ "$(id -u)" != 0 ]; then
    echo "bootstrap: run as root (sudo): it installs Debian packages and starts dockerd" >&2
    exit 1
  fi
}

missing_packages() {
  local pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || echo "$pkg"
  done
}

packages=("${runtime_packages[@]}")
[ "$profile" = dev ] && packages+=("${dev_packages[@]}")
mapfile -t missing < <(missing_packages "${packages[@]}")
if [ "${#missing[@]}" -gt 0 ]; then
  need_root
  echo "bootstrap: installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

python=${DFIR_PYTHON:-python3}
if ! "$python" -c 'import venv, ensurepip' 2>/dev/null; then
  need_root
  apt-get install -y -qq python3-venv >/dev/null
fi

requirements="$repo/requirements.txt"
[ "$profile" = dev ] && requirements="$repo/requirements-dev.txt"
stamp="$venv/.installed-$(cat "$repo/requirements.txt" "$requirements" | sha256sum | cut -c1-16)-$profile"
if [ ! -e "$stamp" ]; then
  [ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
  echo "bootstrap: installing pinned Python packages from $(basename "$requirements")"
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$requirements" 2> >(grep -v '^WARNING: Location' >&2)
  rm -f "$venv"/.installed-*
  touch "$stamp"
fi

# This checkout, seen by Ansible as the collection dfir.docker.
mkdir -p "$venv/collections/ansible_collections/dfir"
ln -sfn "$repo" "$venv/collections/ansible_collections/dfir/docker"

# What users source, for the demo and for a real fleet: it leaves Ansible's SSH host key checking on.
# The test harness, the Molecule scenarios and the benchmarks turn it off for their own loopback hosts.
cat > "$venv/dfir-env.sh" <<ENV
export PATH="$venv/bin:\$PATH"
export ANSIBLE_COLLECTIONS_PATH="$venv/collections"
export ANSIBLE_COLLECTIONS_SCAN_SYS_PATH=false
export ANSIBLE_RETRY_FILES_ENABLED=false
export PYTHONPATH="$venv/collections\${PYTHONPATH:+:\$PYTHONPATH}"
ENV
