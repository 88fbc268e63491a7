#!/usr/bin/env bash
# Runs Sluice's whole test suite: go vet, golangci-lint (.golangci.yml), then
# every Go test with the race detector. Installs what the tests need first
# (scripts/deps.sh: Debian packages, pinned Go tools in .bin/, runpod-python 1.12.0 in .venv).
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/deps.sh
source scripts/deps.sh

echo "== go vet ./..."
go vet ./...

echo "== golangci-lint run ./... (.golangci.yml)"
# Other runs on the machine (another checkout) take turns instead of failing.
golangci-lint run --allow-serial-runners ./...

echo "== go test -race ./..."
go test -race -count=1 -timeout 25m "$@" ./...
