#!/usr/bin/env bash
# Run pytest with the suite_cpu plugin (scripts/suite_cpu.py) writing per-test CPU seconds to OUT.json; where a
# cgroup-v1 cpuacct hierarchy is writable, inside a group of its own so that `tree_cpu_s` counts every process the
# tests start (Ray workers included), then remove the group.
#   bash scripts/suite_run.sh OUT.json [pytest args...]      (e.g. tests/shots/test_ray.py)
set -euo pipefail
out=$(realpath -m "$1"); shift
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD:$PWD/scripts${PYTHONPATH:+:$PYTHONPATH}"
PY=${PYTHON:-python3}
group=/sys/fs/cgroup/cpuacct/suite-cpu-$$
if mkdir "$group" 2>/dev/null; then
  trap 'rmdir "$group" 2>/dev/null || true' EXIT
  sh -c 'echo $$ > "$0/cgroup.procs" && exec "$@"' "$group" env SUITE_CPU_CGROUP="$group" \
    "$PY" -m pytest -q -p no:cacheprovider -p suite_cpu --suite-cpu-json "$out" "$@"
else
  "$PY" -m pytest -q -p no:cacheprovider -p suite_cpu --suite-cpu-json "$out" "$@"
fi
