#!/usr/bin/env bash
# Installs an AAS node as a systemd service on a Debian/Ubuntu or RHEL-family host, from a
# built clone (run `bash scripts/setup.sh` or `npm ci` in it first). Idempotent: run it
# again to upgrade the code; an edited /etc/aas/aas.json is never overwritten.
#
#   sudo bash scripts/deploy/install.sh [--mode auto|root|user] [--no-packages] [--no-images] [--root DIR]
#
# What it does: installs Podman and runc (apt-get or dnf) if missing; creates the system
# user and group `aas` (home /var/lib/aas); the data dir /var/lib/aas (0700) and cache
# /var/cache/aas; copies the built code to /opt/aas (swapped in whole, the previous copy
# kept in /opt/aas.previous); the config /etc/aas/aas.json from scripts/deploy/aas.json if
# there is none; the unit aas-node.service and aas-sandboxes.slice in /etc/systemd/system;
# a drop-in aas-node.service.d/10-mode.conf that says who runs the node (below); builds the
# runtime images for that user; reloads systemd. It does not start the node: edit the
# config, then `systemctl enable --now aas-node`.
#
# --mode: `user` runs the node as `aas` with rootless Podman, which enforces limits only on
# cgroup v2 (delegated to the service) and needs the setuid newuidmap/newgidmap (so
# NoNewPrivileges is lifted for the node, never for skills). `root` runs it as root: the
# fall-back on cgroup v1 hosts, where rootless Podman ignores limits. `auto` (default) picks
# `user` on cgroup v2 and `root` on v1.
# --root DIR installs into DIR as if it were / (for packaging and tests): no packages, no
# images, no systemctl; the user is added to DIR/etc/passwd.
set -euo pipefail

say () { echo "install.sh: $*" >&2; }
usage () { say "$* (usage: install.sh [--mode auto|root|user] [--no-packages] [--no-images] [--root DIR])"; exit 2; }

mode=auto
root=/
packages=1
images=1
while [ $# -gt 0 ]; do
  case "$1" in
    --mode) [ $# -ge 2 ] || usage "--mode needs a value"; mode="$2"; shift 2 ;;
    --mode=*) mode="${1#--mode=}"; shift ;;
    --root) [ $# -ge 2 ] || usage "--root needs a directory"; root="$2"; shift 2 ;;
    --root=*) root="${1#--root=}"; shift ;;
    --no-packages) packages=0; shift ;;
    --no-images) images=0; shift ;;
    -h|--help) sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) usage "unknown argument \"$1\"" ;;
  esac
done
case "$mode" in auto|root|user) ;; *) usage "--mode must be auto, root or user, not \"$mode\"" ;; esac
[ -d "$root" ] || usage "--root $root is not a directory"
root="$(cd "$root" && pwd)"
[ "$(id -u)" -eq 0 ] || { say "run as root (sudo bash scripts/deploy/install.sh)"; exit 2; }
if [ "$root" != / ]; then packages=0; images=0; fi
at () { echo "${root%/}$1"; }

src="$(cd "$(dirname "$0")/../.." && pwd)"
[ -f "$src/dist/node/cli/main.js" ] && [ -d "$src/node_modules" ] || { say "$src is not built: run 'bash scripts/setup.sh' (or npm ci) there first"; exit 1; }
node_version="$(node -p 'process.versions.node' 2>/dev/null || echo 0)"
node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)' 2>/dev/null \
  || { say "Node.js 20.19 or newer is needed at /usr/bin/node (found $node_version)"; exit 1; }

# who runs the node
if [ "$mode" = auto ]; then
  if [ "$(stat -fc %T /sys/fs/cgroup 2>/dev/null)" = cgroup2fs ]; then mode=user; else mode=root; fi
fi

if [ "$packages" = 1 ]; then
  need=()
  command -v podman >/dev/null 2>&1 || need+=(podman)
  command -v runc >/dev/null 2>&1 || need+=(runc)
  if [ "$mode" = user ]; then command -v newuidmap >/dev/null 2>&1 || need+=(uidmap); fi
  if [ ${#need[@]} -gt 0 ]; then
    if command -v apt-get >/dev/null 2>&1; then
      say "installing ${need[*]}"
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
    elif command -v dnf >/dev/null 2>&1; then
      # RHEL's package of newuidmap is shadow-utils, installed everywhere
      rhel=(); for p in "${need[@]}"; do [ "$p" = uidmap ] || rhel+=("$p"); done
      say "installing ${rhel[*]}"
      dnf install -y -q "${rhel[@]}" >/dev/null
    else
      say "no apt-get or dnf here: install ${need[*]} yourself, then run this again"; exit 1
    fi
  fi
fi

# the system user and group
etc="$(at /etc)"
mkdir -p "$etc"
if [ "$root" != / ]; then for f in passwd group shadow gshadow; do [ -e "$etc/$f" ] || install -m 0600 /dev/null "$etc/$f"; done; chmod 0644 "$etc/passwd" "$etc/group"; fi
prefix=(); [ "$root" = / ] || prefix=(--prefix "$root")
nologin=/usr/sbin/nologin; [ -x "$nologin" ] || nologin=/sbin/nologin
grep -q '^aas:' "$etc/group" || groupadd "${prefix[@]}" --system aas
grep -q '^aas:' "$etc/passwd" || useradd "${prefix[@]}" --system --gid aas --home-dir /var/lib/aas --no-create-home --shell "$nologin" --comment 'AAS node' aas
uid="$(awk -F: '$1 == "aas" { print $3 }' "$etc/passwd")"
gid="$(awk -F: '$1 == "aas" { print $3 }' "$etc/group")"
if [ "$mode" = user ]; then
  # uids for the sandbox user (65534) inside rootless containers
  for f in subuid subgid; do
    touch "$etc/$f"
    grep -q '^aas:' "$etc/$f" || echo "aas:1065536:65536" >> "$etc/$f"
  done
fi

# data, cache, config
install -d -m 0700 -o "$uid" -g "$gid" "$(at /var/lib/aas)"
install -d -m 0700 -o "$uid" -g "$gid" "$(at /var/cache/aas)"
install -d -m 0755 "$(at /etc/aas)"
[ -e "$(at /etc/aas/aas.json)" ] || install -m 0644 "$src/scripts/deploy/aas.json" "$(at /etc/aas/aas.json)"

# the code: a fresh copy swapped in whole, so a running node never sees a half-copied tree
opt="$(at /opt/aas)"
if [ "$src" != "$opt" ]; then
  mkdir -p "$(at /opt)"
  rm -rf "$opt.new"
  install -d -m 0755 "$opt.new"
  cp -a "$src/package.json" "$src/package-lock.json" "$src/bin" "$src/dist" "$src/node_modules" "$src/README.md" "$opt.new/"
  [ -d "$src/docs" ] && cp -a "$src/docs" "$opt.new/"
  mkdir -p "$opt.new/scripts" && cp -a "$src/scripts/deploy" "$src/scripts/build-images.sh" "$opt.new/scripts/"
  chown -R 0:0 "$opt.new" && chmod -R go-w "$opt.new"
  if [ -e "$opt" ]; then rm -rf "$opt.previous"; mv "$opt" "$opt.previous"; fi
  mv "$opt.new" "$opt"
fi

# the units, and who runs the node
units="$(at /etc/systemd/system)"
install -d -m 0755 "$units" "$units/aas-node.service.d"
install -m 0644 "$src/scripts/deploy/aas-node.service" "$units/aas-node.service"
install -m 0644 "$src/scripts/deploy/aas-sandboxes.slice" "$units/aas-sandboxes.slice"
if [ "$mode" = root ]; then
  cat > "$units/aas-node.service.d/10-mode.conf" <<'EOF'
# Written by scripts/deploy/install.sh --mode root: this host uses cgroup v1, where rootless
# Podman cannot enforce sandbox limits, so the node runs as root (skills still run as uid
# 65534 with no capabilities). The rest of the unit's hardening stays.
[Service]
User=root
Group=root
EOF
else
  cat > "$units/aas-node.service.d/10-mode.conf" <<'EOF'
# Written by scripts/deploy/install.sh --mode user: the node runs as `aas` with rootless
# Podman, which maps the sandbox user through the setuid newuidmap/newgidmap (so the node
# may gain privileges through them; skills never can) and makes cgroups for its containers
# in the service's own, delegated cgroup.
[Service]
NoNewPrivileges=no
RestrictSUIDSGID=no
Delegate=yes
EOF
fi

if [ "$images" = 1 ]; then
  say "building the runtime images for the $mode user (offline, from Debian packages)"
  if [ "$mode" = root ]; then (cd "$opt" && bash scripts/build-images.sh >/dev/null)
  else (cd /var/lib/aas && runuser -u aas -- env HOME=/var/lib/aas bash "$opt/scripts/build-images.sh" >/dev/null); fi
fi
if [ "$root" = / ] && [ -d /run/systemd/system ]; then systemctl daemon-reload; fi

say "installed ($mode mode): edit /etc/aas/aas.json (trust.authors, bootstrap), then: systemctl enable --now aas-node"
