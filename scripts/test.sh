#!/usr/bin/env bash
# Runs Sluice's whole test suite: go vet, then every Go test with the race
# detector. Installs what the tests need first (runpod-python 1.12.0 from PyPI
# in a virtualenv at .venv, used by the conformance tests).
set -euo pipefail
cd "$(dirname "$0")/.."

venv="${SLUICE_VENV:-$PWD/.venv}"
if ! "$venv/bin/python" -c 'import runpod, sys; sys.exit(runpod.__version__ != "1.12.0")' 2>/dev/null; then
  echo "== installing runpod==1.12.0 into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check runpod==1.12.0
fi
export SLUICE_VENV="$venv"

echo "== go vet ./..."
go vet ./...

echo "== go test -race ./..."
go test -race -count=1 -timeout 20m "$@" ./...
