#!/usr/bin/env bash
# Installs Verdaccio (the npm registry the tests serve fixture packages from) into DIR, with the
# job image's node and npm and a clean npm configuration. Idempotent: does nothing when DIR
# already holds an install of this lockfile.
#   tests/support/verdaccio/install.sh DIR [IMAGE_ROOTFS]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dir=$1
rootfs=${2:-/var/lib/ovvoc/images/current/rootfs}
node=$rootfs/usr/local/bin/node
npm_cli=$rootfs/usr/local/lib/node_modules/npm/bin/npm-cli.js
stamp=$(sha256sum "$here/package-lock.json" | cut -d' ' -f1)
if [[ -f $dir/.installed && $(cat "$dir/.installed") == "$stamp" ]]; then exit 0; fi
[[ -x $node ]] || { echo "verdaccio: no node at $node; build the job image first" >&2; exit 1; }
mkdir -p "$dir"
cp "$here/package.json" "$here/package-lock.json" "$dir/"
: >"$dir/.npmrc-empty"
echo "verdaccio: installing into $dir"
# Nothing of the host's npm configuration: its user npmrc may set options we must not inherit.
env -i PATH="$(dirname "$node"):/usr/bin:/bin" HOME="$dir/.home" \
  NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt \
  "$node" "$npm_cli" ci --userconfig="$dir/.npmrc-empty" --globalconfig=/dev/null \
  --registry=https://registry.npmjs.org/ --no-audit --no-fund --update-notifier=false \
  --prefix "$dir" >"$dir/install.log" 2>&1 || { cat "$dir/install.log" >&2; exit 1; }
echo "$stamp" >"$dir/.installed"
