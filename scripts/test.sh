#!/usr/bin/env bash
# The README's test command: set up, lint, then run the whole test suite on CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh test,ui,ui-test,ray
PY=${PYTHON:-python3}
"$PY" -m ruff check lvcd tests scripts  # ruff is pinned in setup.py's `test` extra
"$PY" -m ruff format --check lvcd tests scripts  # the formatter the project adopted (ruff.toml [format])
"$PY" -m pytest -q -p no:cacheprovider tests "$@"
