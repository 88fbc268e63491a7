#!/usr/bin/env bash
# Installs what Sluice's tests need, idempotently; sourced by scripts/test.sh.
# Each part adds what its tests use: Debian packages (need_apt), Go tools at
# pinned versions built into .bin/ (need_go_tool), Python packages in .venv.

apt_updated=""
# need_apt PKG... installs the Debian packages not installed yet.
need_apt() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "== installing Debian packages: ${missing[*]}"
  if [ -z "$apt_updated" ]; then $sudo apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# need_go_tool NAME MODULE@VERSION builds a Go program into .bin/ unless the
# same version is there already.
need_go_tool() {
  local name="$1" mod="$2" stamp
  stamp=".bin/.$name.version"
  if [ -x ".bin/$name" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$mod" ]; then return 0; fi
  echo "== building $mod into .bin/"
  mkdir -p .bin
  GOBIN="$PWD/.bin" go install "$mod"
  echo "$mod" >"$stamp"
}
export PATH="$PWD/.bin:$PATH"

# runpod-python from PyPI (conformance tests against the real SDK).
venv="${SLUICE_VENV:-$PWD/.venv}"
if ! "$venv/bin/python" -c 'import runpod, sys; sys.exit(runpod.__version__ != "1.12.0")' 2>/dev/null; then
  echo "== installing runpod==1.12.0 into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check runpod==1.12.0
fi
export SLUICE_VENV="$venv"

# issue 16: the real OpenAI Python SDK as the client of the OpenAI-compatible
# routes (internal/openai TestOpenAISDK*), in the same venv as runpod-python.
if ! "$venv/bin/python" -c 'import openai, sys; sys.exit(openai.__version__ != "3.51.0")' 2>/dev/null; then
  echo "== installing openai==3.51.0 into $venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check openai==3.51.0
fi

# issue 16: FastAPI and uvicorn from PyPI in the same venv: Runpod's load-balancing
# worker example (a FastAPI app with /ping and /generate) in internal/e2e TestLB*.
if ! "$venv/bin/python" -c 'import fastapi, uvicorn, sys; sys.exit(fastapi.__version__ != "0.163.2" or uvicorn.__version__ != "0.54.0")' 2>/dev/null; then
  echo "== installing fastapi==0.163.2 uvicorn==0.54.0 into $venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check fastapi==0.163.2 uvicorn==0.54.0
fi

# issue 17: install and deploy tests (deploy/): Podman and runc build and run the
# container image, systemd-analyze verifies the unit, Helm lints and renders the
# chart, GoReleaser checks .goreleaser.yaml and builds a snapshot.
need_apt podman runc systemd
need_go_tool helm helm.sh/helm/v4/cmd/helm@v4.3.2
need_go_tool goreleaser github.com/goreleaser/goreleaser/v2@v2.17.0

# issue 14: a real Prometheus scrapes `sluice serve` in internal/e2e (TestPrometheusScrapesSluice).
need_apt prometheus

# issue 9: golangci-lint, run by scripts/test.sh with .golangci.yml.
need_go_tool golangci-lint github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v2.15.0

# issue 12: Runpod's JavaScript client (npm runpod-sdk) against `sluice serve`
# (internal/conformance TestJSClient), installed in .node/.
if ! [ -f .node/node_modules/runpod-sdk/package.json ] || ! grep -q '"version": "1.1.2"' .node/node_modules/runpod-sdk/package.json; then
  echo "== installing runpod-sdk@1.1.2 (npm) into .node"
  npm install --silent --no-audit --no-fund --prefix .node runpod-sdk@1.1.2 >/dev/null
fi

# issue 12: jq reads a Go worker's --test_input result (examples TestExampleTestInputPipesToJq).
need_apt jq

# issue 13: the web console's browser tests (internal/e2e TestConsoleBrowser*)
# drive Debian's chromium headless through chromedp.
need_apt chromium
