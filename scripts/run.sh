#!/usr/bin/env bash
# Quick start, command 1: set up and run the main job on the embedded default.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh" ""
exec hwsearch serve "$@"
