#!/usr/bin/env bash
# Install lvcd and its dependencies into the current Python. torch is installed first as the CPU wheel
# (torch==2.13.0) unless a torch is already present, so that the `torch>=2.1` range in setup.py does not pull a
# multi-GB CUDA build on machines without a GPU. Users with a GPU install their CUDA torch first.
#
#   bash scripts/setup_env.sh                       lvcd itself (what the README's main job needs)
#   bash scripts/setup_env.sh test,ui,ui-test,ray   plus the extras the test suite exercises (scripts/test.sh)
set -euo pipefail
EXTRAS=${1:-}
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if ! "$PY" -c "import torch" >/dev/null 2>&1; then
  "$PY" -m pip install -q "torch==2.13.0"
fi
"$PY" -m pip install -q -e ".${EXTRAS:+[$EXTRAS]}"
[[ ",$EXTRAS," == *",ui-test,"* ]] || exit 0
# tests/ui drive Debian's chromium with Playwright (`playwright install` cannot download here): install it when
# missing and apt is ours to use (CI runs as root); elsewhere the browser tests skip and say why.
if ! command -v chromium >/dev/null && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
