#!/usr/bin/env bash
# The README's test command: set up, then run the whole test suite on CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh
PY=${PYTHON:-python3}
"$PY" -m pytest -q -p no:cacheprovider tests "$@"
