#!/usr/bin/env bash
# Install CPU-only torch (the version constraints.txt pins) into the environment of PYTHON,
# before the project: from PyPI, that version on Linux is the CUDA build.
# First a wheel pip finds without any index (its find-links, e.g. a local wheel cache; the
# project install that follows brings torch's own dependencies), else PyTorch's CPU index.
# Usage: bash scripts/cpu_torch.sh PYTHON
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="$1"
CPU_INDEX="https://download.pytorch.org/whl/cpu"
TORCH="$(grep -E '^torch==' "$ROOT/constraints.txt" | head -1 | tr -d '[:space:]')"
[ -n "$TORCH" ] || { echo "cpu_torch: no 'torch==' pin in constraints.txt" >&2; exit 1; }

if "$PYTHON" -m pip install -q --no-index --no-deps "$TORCH" 2>/dev/null; then
  exit 0
fi
echo "cpu_torch: no local $TORCH wheel; installing it from PyTorch's CPU index" >&2
"$PYTHON" -m pip install -q --timeout 30 --retries 2 --index-url "$CPU_INDEX" "$TORCH"
