#!/usr/bin/env bash
# Every check of dfir.docker, the way CI runs it (.ci/run calls this). As root, from anywhere:
#   bash tests/run.sh                  all stages, in order
#   bash tests/run.sh unit molecule    only these stages (after bootstrap)
#   bash tests/run.sh --list           the stages and their time limits
# Each stage is timed, limited in time and logged to tests/output/<stage>.log; a summary follows
# and the exit code is non-zero when any stage failed. A test directory that does not exist yet is
# reported as absent (not as passed); one in which pytest collects no test fails.
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
output="$repo/tests/output"
# Exit code of a stage whose directory does not exist (yet).
ABSENT=99

# The stages, in order: name, time limit in seconds, command (a function below and its arguments).
# To add one: write a stage_<what> function below and add its line here. The limits add up to
# less than CI's 90 minutes; a normal run takes a fraction of them.
STAGES=(
  "bootstrap    600   stage_bootstrap"
  "static       300   stage_static"
  "lint         300   stage_lint"
  "sanity       900   stage_sanity"
  "unit         300   stage_pytest tests/unit"
  "units        600   stage_ansible_test_units"
  "offline      600   stage_pytest tests/offline"
  "integration  1500  stage_pytest tests/integration"
  "package      900   stage_package"
  "molecule     1200  stage_molecule default userns fleet fleet-down"
)

use_env() {
  # shellcheck source=/dev/null
  source "$repo/.venv/dfir-env.sh"
}

# --- stages ------------------------------------------------------------------------------

stage_bootstrap() {
  bash "$repo/scripts/bootstrap.sh" dev
}

# Shell scripts parse and pass shellcheck; every module, role and filter has docs that
# ansible-doc renders (the README sends users there); the playbooks pass a syntax check.
stage_static() {
  local failed=0 script name kind scripts
  mapfile -t scripts < <(shell_scripts)
  for script in "${scripts[@]}"; do
    [ -f "$repo/$script" ] || continue
    bash -n "$repo/$script" || { echo "bash -n: $script does not parse"; failed=1; }
  done
  if command -v shellcheck >/dev/null; then
    (cd "$repo" && shellcheck -x "${scripts[@]}") || failed=1
  else
    echo "shellcheck is not installed (scripts/bootstrap.sh dev installs it)"
    failed=1
  fi
  use_env
  for kind in module role filter; do
    for name in $(doc_targets "$kind"); do
      if ansible-doc -t "$kind" "dfir.docker.$name" >/dev/null; then
        echo "ansible-doc -t $kind dfir.docker.$name: ok"
      else
        echo "ansible-doc -t $kind dfir.docker.$name: FAILED"
        failed=1
      fi
    done
  done
  for name in "$repo"/playbooks/*.yml; do
    ANSIBLE_LOCALHOST_WARNING=false ANSIBLE_INVENTORY_UNPARSED_WARNING=false \
      ansible-playbook --syntax-check -i localhost, "$name" >/dev/null || { echo "syntax: $name FAILED"; failed=1; }
  done
  return "$failed"
}

shell_scripts() {  # the repository's shell scripts, relative to it
  cd "$repo" || return
  if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git ls-files --cached --others --exclude-standard -- '*.sh' .ci/run
  else
    find . -path ./.venv -prune -o -type f \( -name '*.sh' -o -path ./.ci/run \) -print | sed 's|^\./||'
  fi
}

doc_targets() {  # the names ansible-doc should know, from the tree itself
  case "$1" in
    module) find "$repo/plugins/modules" -maxdepth 1 -name '[a-z]*.py' -printf '%f\n' | sed 's/\.py$//' | sort ;;
    role) find "$repo/roles" -mindepth 1 -maxdepth 1 -type d -printf '%f\n' | sort ;;
    filter) find "$repo/plugins/filter" -maxdepth 1 -name '[a-z]*.py' -printf '%f\n' 2>/dev/null | sed 's/\.py$//' | sort ;;
  esac
}

stage_lint() {
  use_env
  local failed=0
  # ansible-lint caches collections in $ANSIBLE_HOME (default ~/.ansible, shared by every checkout on
  # the machine) and puts that cache first: a stale dfir.docker there would be linted instead of this one.
  (cd "$repo" && ANSIBLE_HOME="$repo/.build/ansible-home" ansible-lint) || failed=1
  if [ -d "$repo/changelogs" ]; then
    (cd "$repo" && antsibull-changelog lint) || failed=1
  fi
  return "$failed"
}

# ansible-test wants the collection at .../ansible_collections/dfir/docker: test a copy of the
# files git would commit (tracked, and untracked but not ignored), not the working dir's leftovers.
stage_sanity() {
  ansible_test sanity
}

# ansible-test units: tests/unit under ansible-test's own pytest, in a venv it makes from PyPI
# (tests/unit/requirements.txt adds what our tests import beyond its own requirements).
stage_ansible_test_units() {
  ansible_test units
}

ansible_test() {  # ansible_test COMMAND: run `ansible-test COMMAND` on a copy of the collection
  use_env
  local root rc python_version shared_roots
  root=$(mktemp -d /var/tmp/dfir-ansible-test-XXXXXX)
  mkdir -p "$root/ansible_collections/dfir/docker"
  (cd "$repo" && git ls-files -z --cached --others --exclude-standard) |
    rsync -a --from0 --files-from=- --ignore-missing-args "$repo/" "$root/ansible_collections/dfir/docker/" || {
    rm -rf "$root"
    return 1
  }
  # ansible-test passes no environment to the tests: the shared Docker roots (DFIR_SHARED_ROOTS, else
  # ../shared/data/docker-roots) go beside the copy's ansible_collections tree, where tests/conftest.py looks.
  shared_roots=${DFIR_SHARED_ROOTS:-$repo/../shared/data/docker-roots}
  if [ -d "$shared_roots" ]; then
    mkdir -p "$root/shared/data" && ln -s "$(cd "$shared_roots" && pwd)" "$root/shared/data/docker-roots"
  fi
  python_version=$(python -c 'import sys; print("%d.%d" % sys.version_info[:2])')
  (
    cd "$root/ansible_collections/dfir/docker" &&
      git init -q && git add -A &&
      python "$repo/tests/sanity/offline_pip_bootstrap.py" &&
      ansible-test "$1" --venv --python "$python_version" --color no
  )
  rc=$?
  # Its JUnit report, where the summary reads each stage's counts.
  find "$root/ansible_collections/dfir/docker/tests/output/junit" -name '*.xml' -exec cp {} "$output/junit-$1.xml" \; 2>/dev/null
  rm -rf "$root"
  return "$rc"
}

# The collection as users get it: `ansible-galaxy collection build`, the tarball installed into an
# empty collections path, and the demo's acquisition run from that installed copy (not this checkout)
# against a private dockerd; then the execution environment definition, checked offline.
stage_package() {
  use_env
  (cd "$repo" && python tests/package/check_package.py)
}

stage_molecule() {
  local scenario failed=0
  use_env
  for scenario in "$@"; do
    printf -- '--- molecule test -s %s\n' "$scenario"
    # Interrupted (the time limit), molecule would leave its daemons running: destroy them.
    trap '(cd "$repo" && molecule destroy -s "$scenario")' INT TERM
    (cd "$repo" && molecule test -s "$scenario") || failed=1
    trap - INT TERM
  done
  return "$failed"
}

stage_pytest() {
  local dir=$1 name rc
  name=$(basename "$dir")
  if [ ! -d "$repo/$dir" ]; then
    echo "$dir does not exist (yet): nothing to run"
    return "$ABSENT"
  fi
  use_env
  (cd "$repo" && python -m pytest "$dir" -ra -p no:cacheprovider --junitxml="$output/junit-$name.xml")
  rc=$?
  if [ "$rc" -eq 5 ]; then
    echo "pytest collected no test in $dir: a test directory without tests fails the run"
    return 1
  fi
  return "$rc"
}


# --- runner ------------------------------------------------------------------------------

stage_field() {  # stage_field "<stage line>" N
  local -a fields
  read -r -a fields <<<"$1"
  case "$2" in
    name) echo "${fields[0]}" ;;
    limit) echo "${fields[1]}" ;;
    command) echo "${fields[*]:2}" ;;
  esac
}

stage_line() {
  local line
  for line in "${STAGES[@]}"; do
    [ "$(stage_field "$line" name)" = "$1" ] && { echo "$line"; return 0; }
  done
  return 1
}

junit_counts() {  # "passed failed skipped xfailed" of one pytest stage's JUnit file, or nothing
  [ -f "$1" ] || return 0
  python3 - "$1" <<'EOF'
import sys
import xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
passed = failed = skipped = xfailed = 0
for case in root.iter('testcase'):
    if case.find('failure') is not None or case.find('error') is not None:
        failed += 1
    elif case.find('skipped') is not None:
        # a strict xfail is a known defect pinned by a test, not a skipped test
        if case.find('skipped').get('type') == 'pytest.xfail':
            xfailed += 1
        else:
            skipped += 1
    else:
        passed += 1
print(passed, failed, skipped, xfailed)
EOF
}

run_stage() {  # run_stage LINE: run one stage in its own process, under its time limit
  local name limit started rc
  name=$(stage_field "$1" name)
  limit=$(stage_field "$1" limit)
  printf '\n===== stage %s (limit %ss) =====\n' "$name" "$limit"
  rm -f "$output/junit-$name.xml"
  started=$SECONDS
  # SIGINT first, so pytest and molecule tear down the daemons they started; SIGKILL a minute later.
  timeout -s INT -k 60 "$limit" bash "$repo/tests/run.sh" --stage "$name" 2>&1 | tee "$output/$name.log"
  rc=${PIPESTATUS[0]}
  stage_results+=("$name $rc $((SECONDS - started))")
  return "$rc"
}

summary() {
  local entry name rc secs result counts failed=0 total_passed=0 total_failed=0 total_skipped=0 total_xfailed=0
  local passed_n failed_n skipped_n xfailed_n
  printf '\n===== summary =====\n'
  printf '%-12s %-8s %8s  %s\n' stage result time tests
  for entry in "${stage_results[@]}"; do
    read -r name rc secs <<<"$entry"
    case "$rc" in
      0) result=PASS ;;
      "$ABSENT") result=ABSENT ;;
      124 | 137) result=TIMEOUT; failed=1 ;;
      *) result=FAIL; failed=1 ;;
    esac
    counts=$(junit_counts "$output/junit-$name.xml")
    if [ -n "$counts" ]; then
      read -r passed_n failed_n skipped_n xfailed_n <<<"$counts"
      total_passed=$((total_passed + passed_n))
      total_failed=$((total_failed + failed_n))
      total_skipped=$((total_skipped + skipped_n))
      total_xfailed=$((total_xfailed + xfailed_n))
      counts="$passed_n passed, $failed_n failed, $skipped_n skipped, $xfailed_n xfailed"
      # No test may be skipped here: a skip hides a set-up step that did not happen.
      if [ "$skipped_n" != 0 ] && [ "$result" = PASS ]; then result=SKIPS; failed=1; fi
    fi
    printf '%-12s %-8s %7ss  %s\n' "$name" "$result" "$secs" "$counts"
  done
  printf 'total time %ss; logs and JUnit files in %s\n' "$SECONDS" "$output"
  [ "$failed" = 0 ] && echo "result: every stage that exists passed" || echo "result: FAILED"
  # One closing line over every pytest stage, in the form CI tools read.
  printf 'pytest: %d passed, %d failed, %d skipped, %d xfailed (known defects pinned by strict xfail tests)\n' \
    "$total_passed" "$total_failed" "$total_skipped" "$total_xfailed"
  return "$failed"
}

main() {
  local line name command wanted=() stage_results=()
  if [ "${1:-}" = --list ]; then
    printf '%s\n' "${STAGES[@]}"
    return 0
  fi
  if [ "${1:-}" = --stage ]; then  # internal: the body of one stage, run by run_stage
    line=$(stage_line "$2") || { echo "no stage $2" >&2; return 2; }
    read -r -a command <<<"$(stage_field "$line" command)"
    "${command[@]}"
    return
  fi
  for name in "$@"; do
    stage_line "$name" >/dev/null || { echo "tests/run.sh: no stage '$name' (see --list)" >&2; return 2; }
  done
  [ "$(id -u)" = 0 ] || { echo "tests/run.sh: run as root: the tests start their own dockerd" >&2; return 2; }
  mkdir -p "$output"
  if [ ! -t 1 ]; then
    export NO_COLOR=1 ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0 PY_COLORS=0
  fi
  wanted=("$@")
  for line in "${STAGES[@]}"; do
    name=$(stage_field "$line" name)
    if [ "${#wanted[@]}" -gt 0 ] && [ "$name" != bootstrap ] && [[ " ${wanted[*]} " != *" $name "* ]]; then
      continue
    fi
    if ! run_stage "$line" && [ "$name" = bootstrap ]; then
      echo "bootstrap failed: no other stage can run"
      break
    fi
  done
  summary
}

main "$@"
