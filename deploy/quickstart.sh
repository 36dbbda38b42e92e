#!/usr/bin/env bash
# Ovvoc end to end on one machine: installs dependencies, builds the binaries and the job
# image, starts a control plane, registers and starts an agent, runs a job on a sample npm
# project (clone, then resolve and install through the read-only registry gateway, build and
# test in a hardened container) and prints its result. Cleans up after itself; exits non-zero
# unless the job succeeds. Needs root (containers, loop-mounted job disks).
#
#   deploy/quickstart.sh            # everything in a temp dir, removed at the end
#   KEEP=1 deploy/quickstart.sh     # keep the temp dir (logs, data dir) for a look afterwards
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${OVVOC_BUILD_DIR:-$root/build}
work=$(mktemp -d /tmp/ovvoc-quickstart-XXXXXX)
cp_bin=$build/control-plane/ovvoc-control-plane
agent_bin=$build/agent/ovvoc-agent
pids=()

step() { printf '\n==> %s\n' "$*"; }
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [[ ${KEEP:-0} == 1 ]]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

step "Installing build dependencies (Debian packages)"
"$root/deploy/install-deps.sh"

step "Building ovvoc-control-plane and ovvoc-agent"
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j "${OVVOC_JOBS:-2}" --target ovvoc-control-plane ovvoc-agent

step "Building the job images (one per node major: the container rootfs every job runs in)"
"$root/deploy/image/build.sh" | tail -n 1

step "Initialising a control plane in $work/control-plane"
"$cp_bin" init --data-dir "$work/control-plane"
"$cp_bin" serve --data-dir "$work/control-plane" --listen 127.0.0.1:0 \
  >"$work/control-plane.out" 2>"$work/control-plane.log" &
pids+=($!)
for _ in $(seq 100); do
  grep -q '^listening on ' "$work/control-plane.out" 2>/dev/null && break
  sleep 0.1
done
address=$(sed -n 's/^listening on //p' "$work/control-plane.out")
[[ -n $address ]] || { cat "$work/control-plane.log"; echo "control plane did not start"; exit 1; }
echo "control plane listening on $address"
admin() { "$cp_bin" "$@" --data-dir "$work/control-plane"; }

step "Creating an org and a one-time enrollment token"
admin org create demo
token=$(admin enroll-token create --org demo --ttl 10m | tail -n 1)

step "Registering an agent (pins the control plane's CA from the token)"
"$agent_bin" register --server "$address" --token "$token" --config-dir "$work/agent"
# --allow-file-remotes: the sample repository is a local path on this machine. Jobs run in
# the sandbox: docker when a daemon answers, else runc. The registry gateway refuses registries
# that resolve to private or reserved addresses; some networks (mirrors, split DNS) map the
# public registry there, so this one host:port is explicitly allowed.
"$agent_bin" run --config-dir "$work/agent" --allow-file-remotes \
  --allow-internal registry.npmjs.org:443 2>"$work/agent.log" &
pids+=($!)

step "Committing the sample npm project into a git repository"
repo=$work/sample-app.git
git init -q --bare -b main "$repo"
src=$work/sample-app
cp -r "$root/deploy/quickstart/sample-app" "$src"
git -C "$src" init -q -b main
git -C "$src" add .
git -C "$src" -c user.name=Ovvoc -c user.email=quickstart@ovvoc.invalid commit -q -m "sample app"
git -C "$src" push -q "$repo" main

step "Adding the repository and queueing an update job"
repo_id=$(admin repo add --org demo --url "file://$repo" | tail -n 1)
job_id=$(admin job create --repo "$repo_id" | tail -n 1)
echo "job $job_id"

step "Waiting for the agent to run it"
state=""
for _ in $(seq 600); do
  state=$(admin job show "$job_id" --json | sed -n 's/^ *"state": "JOB_STATE_\([A-Z]*\)".*/\1/p')
  case $state in SUCCEEDED|FAILED|CANCELLED) break ;; esac
  printf '.'
  sleep 0.5
done
echo

step "Result"
admin job show "$job_id"
if [[ $state != SUCCEEDED ]]; then
  echo "the job did not succeed (state: ${state:-unknown}); agent log:"
  cat "$work/agent.log"
  exit 1
fi
echo
echo "Quickstart succeeded."
