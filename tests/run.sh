#!/usr/bin/env bash
# The test command: installs what is needed, configures, builds and runs every test.
# Exits non-zero when anything fails. Benchmarks are built but not run (tests/bench/README.md).
#
#   tests/run.sh                 # everything
#   tests/run.sh -L unit         # extra arguments go to ctest
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${OVVOC_BUILD_DIR:-$root/build}
jobs=${OVVOC_JOBS:-2}

"$root/deploy/install-deps.sh"

cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DOVVOC_BUILD_TESTS=ON -DOVVOC_BUILD_BENCHMARKS=ON
cmake --build "$build" -j "$jobs"

cd "$build"
ctest --output-on-failure --timeout 300 -j "$jobs" "$@"
