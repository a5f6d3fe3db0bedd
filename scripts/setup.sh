#!/usr/bin/env bash
# Set up (or refresh) the project's virtual environment in .venv.
# Sourced by scripts/run.sh and scripts/test.sh so a fresh machine needs nothing else.
# Usage: source scripts/setup.sh [EXTRAS]   e.g. "test"
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${HWSEARCH_VENV:-$ROOT/.venv}"
PYTHON="${PYTHON:-python3}"
EXTRAS="${1:-}"

# Debian packages the project uses, installed where we can (root + apt); never fatal.
apt_install() {  # PACKAGE WHAT-NEEDS-IT
  [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null || { echo "setup: please install Debian package $1 ($2)" >&2; return 0; }
  echo "setup: installing Debian package $1 ($2)" >&2
  apt-get install -y -q "$1" >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q "$1" >/dev/null 2>&1; } \
    || echo "setup: could not install $1; $2 will not work" >&2
}

# Fashion-MNIST (the fashion-* models), unless the user points at their own copy.
[ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || [ -n "${HWSEARCH_FASHION_DIR:-}" ] \
  || apt_install dataset-fashion-mnist "the fashion-* models"
if [[ ",$EXTRAS," == *,test,* ]]; then
  # Browser tests drive Debian's chromium (Playwright's own browser download is never used);
  # the compose file is checked with Debian's docker-compose (no Docker engine needed).
  [ -x /usr/bin/chromium ] || apt_install chromium "the browser tests"
  command -v docker-compose >/dev/null || apt_install docker-compose "the docker-compose.yml check"
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
  bash "$ROOT/scripts/cpu_torch.sh" "$VENV/bin/python"  # CPU torch first: PyPI's is the CUDA build
  "$VENV/bin/python" -m pip install -q -c "$ROOT/constraints.txt" -e "$SPEC"
  echo "$WANT" >> "$STAMP"
fi
export PATH="$VENV/bin:$PATH"
