#!/usr/bin/env bash
# Sets up a fresh Debian machine to run AAS: system packages (Podman + runc for the
# sandboxes, Prometheus's promtool for the metrics check, iproute2 and libfaketime for the partition and clock tests), npm dependencies (which also
# compiles the TypeScript), the offline runtime images, and the `aas` command on the PATH.
# Idempotent: run it again any time.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v podman >/dev/null 2>&1 || need+=(podman)
command -v runc >/dev/null 2>&1 || need+=(runc)
# promtool checks /metrics; the prometheus server scrapes a mesh in a test (its own service is disabled below)
{ command -v promtool && command -v prometheus; } >/dev/null 2>&1 || need+=(prometheus)
# systemd-analyze checks the systemd unit of scripts/deploy
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
# the partition tests put nodes in network namespaces of their own
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v nsenter >/dev/null 2>&1 || need+=(util-linux)
# the clock-jump test runs a node under libfaketime
[ -e /usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1 ] || need+=(libfaketime)
# the reviewer page's browser test drives Debian's Chromium (playwright-core downloads no browser)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
# (and a font for its screenshots: the package only recommends one)
[ -d /usr/share/fonts/truetype/liberation ] || need+=(fonts-liberation)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  echo "setup: installing ${need[*]} from Debian's packages" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  # the prometheus package starts a server of its own on :9090; the test starts its own servers
  if [[ " ${need[*]} " == *" prometheus "* ]] && command -v systemctl >/dev/null 2>&1; then
    $SUDO systemctl disable --now prometheus >/dev/null 2>&1 || true
  fi
fi

if [ -f package-lock.json ]; then npm ci --no-audit --no-fund; else npm install --no-audit --no-fund; fi

bash scripts/build-images.sh

# `aas` on the PATH: a symbolic link to this clone's bin/aas.js (Node follows it back here, so
# dist/ and node_modules/ are found), in /usr/local/bin as root, else in ~/.local/bin. A link
# to another clone is moved to this one; a file that is not a link is left alone.
chmod 0755 bin/aas.js
if [ "$(id -u)" -eq 0 ]; then bindir=/usr/local/bin; else bindir="$HOME/.local/bin"; fi
link="$bindir/aas"
target="$PWD/bin/aas.js"
mkdir -p "$bindir"
if [ -e "$link" ] && [ ! -L "$link" ]; then
  echo "setup: $link exists and is not a link; leaving it (run this clone's bin/aas.js instead)" >&2
elif [ "$(readlink "$link" 2>/dev/null)" != "$target" ]; then
  ln -sfn "$target" "$link"
  echo "setup: $link -> $target" >&2
fi
case ":$PATH:" in
  *":$bindir:"*) ;;
  *) echo "setup: $bindir is not on your PATH; add it (e.g. export PATH=\"$bindir:\$PATH\")" >&2 ;;
esac
echo "setup: done. Start a node with: aas node start" >&2
