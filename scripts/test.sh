#!/usr/bin/env bash
# Quick start, command 2: set up and run the whole test suite.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh" "test"
cd "$(dirname "${BASH_SOURCE[0]}")/.."
exec python -m pytest "$@"
