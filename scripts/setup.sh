#!/usr/bin/env bash
# Set up (or refresh) the project's virtual environment in .venv.
# Sourced by scripts/run.sh and scripts/test.sh so a fresh machine needs nothing else.
# Usage: source scripts/setup.sh [EXTRAS]   e.g. "test"
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${HWSEARCH_VENV:-$ROOT/.venv}"
PYTHON="${PYTHON:-python3}"
EXTRAS="${1:-}"

# Fashion-MNIST comes from Debian's package; install it where we can (root + apt).
FASHION_DIR=/usr/share/datasets/fashion-mnist
if [ ! -f "$FASHION_DIR/train-images-idx3-ubyte.gz" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "setup: installing Debian package dataset-fashion-mnist" >&2
  apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1; } \
    || echo "setup: could not install dataset-fashion-mnist; fashion-* models need HWSEARCH_FASHION_DIR" >&2
fi

# Browser tests (tests/test_web_*.py) drive Debian's chromium; Playwright's own download is never used.
if [[ ",$EXTRAS," == *,test,* ]] && [ ! -x /usr/bin/chromium ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "setup: installing Debian package chromium (for the browser tests)" >&2
  apt-get install -y -q chromium >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium >/dev/null 2>&1; } \
    || echo "setup: could not install chromium; the browser tests will be skipped" >&2
fi

if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -c 'import sys; assert sys.version_info >= (3, 11), "hwsearch needs Python 3.11+"'
  "$PYTHON" -m venv "$VENV"
fi

# Reinstall only when the project's dependency files change.
STAMP="$VENV/.hwsearch-installed"
WANT="$(cat "$ROOT/pyproject.toml" "$ROOT/constraints.txt" | sha256sum | cut -d' ' -f1)-$EXTRAS"
if [ ! -f "$STAMP" ] || ! grep -qx -- "$WANT" "$STAMP"; then
  SPEC="$ROOT"
  [ -n "$EXTRAS" ] && SPEC="$ROOT[$EXTRAS]"
  "$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null
  "$VENV/bin/python" -m pip install -q -c "$ROOT/constraints.txt" -e "$SPEC"
  echo "$WANT" >> "$STAMP"
fi
export PATH="$VENV/bin:$PATH"
