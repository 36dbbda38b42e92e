#!/usr/bin/env bash
# The test command: installs what is needed, configures, builds and runs every test.
# Exits non-zero when anything fails. Benchmarks are built but not run (tests/bench/README.md).
#
#   tests/run.sh                 # everything
#   tests/run.sh -L unit         # extra arguments go to ctest
#
# The sandbox tests need root, Docker and runc. This script starts dockerd when none answers
# (and stops what it started) and builds the job images (deploy/image/build.sh). A backend that
# cannot run is reported and its tests skip, except under CI=true, where that is a failure.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${OVVOC_BUILD_DIR:-$root/build}
jobs=${OVVOC_JOBS:-2}

"$root/deploy/install-deps.sh"

started_dockerd=""
cleanup() {
  if [[ -n $started_dockerd ]]; then
    echo "run.sh: stopping the dockerd it started"
    kill "$started_dockerd" 2>/dev/null || true
    wait "$started_dockerd" 2>/dev/null || true
  fi
}
trap cleanup EXIT

if [[ $(id -u) -eq 0 ]]; then
  if ! docker info >/dev/null 2>&1; then
    echo "run.sh: starting dockerd (vfs storage) for the sandbox tests"
    dockerd --storage-driver=vfs >"${TMPDIR:-/tmp}/ovvoc-dockerd.log" 2>&1 &
    started_dockerd=$!
    for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
    docker info >/dev/null 2>&1 || echo "run.sh: dockerd did not start; see ${TMPDIR:-/tmp}/ovvoc-dockerd.log"
  fi
  "$root/deploy/image/build.sh" | tail -n 1
  "$root/tests/support/verdaccio/install.sh" "$build/verdaccio"
else
  echo "run.sh: not root: the sandbox tests will be skipped"
fi

cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DOVVOC_BUILD_TESTS=ON -DOVVOC_BUILD_BENCHMARKS=ON
cmake --build "$build" -j "$jobs"

cd "$build"
ctest --output-on-failure --timeout 300 -j "$jobs" "$@"
