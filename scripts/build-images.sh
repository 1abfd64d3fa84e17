#!/usr/bin/env bash
# Builds (or reuses) the runtime images skills run in, offline from Debian's packages:
# apt-get download of each package closure, dpkg -x into a root folder, podman import, tagged
# with a hash of the recipe and the exact package files. Idempotent: an unchanged recipe and
# archive reuse the images without downloading anything. Same as `npx aas images build`.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f dist/node/cli/main.js ] || npx tsc -p .
exec node bin/aas.js images build "$@"
