#!/usr/bin/env bash
# Quick start, command 2: set up and run the whole test suite.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh" "test"
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# Two test processes, each file kept whole on one (module-scoped servers and ordered tests),
# each with one torch thread: two processes with two threads each on two cores stall in OpenMP.
# Pass -n 0 to run in one process.
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
exec python -m pytest -n "${HWSEARCH_TEST_PROCESSES:-2}" --dist loadfile "$@"
