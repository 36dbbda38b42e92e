#!/usr/bin/env bash
# Installs, idempotently, every Debian 12 package that building, testing and the quickstart need.
# Safe to run again: apt-get only acts on what is missing.
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake ninja-build pkg-config git ca-certificates curl
  # libraries the code links
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libabsl-dev
  libssl-dev libcurl4-openssl-dev libgit2-dev libsqlite3-dev nlohmann-json3-dev libcli11-dev
  libjemalloc-dev libyaml-cpp-dev libsimdjson-dev
  # the sandbox: both container backends, job disks, the job image's ingredients
  docker.io runc e2fsprogs busybox-static libseccomp-dev
  # tests
  catch2 libcpp-httplib-dev openssl procps
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  if [[ $(id -u) -ne 0 ]]; then SUDO=sudo; else SUDO=; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "install-deps: all packages present"
fi
