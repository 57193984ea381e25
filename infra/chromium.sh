#!/usr/bin/env bash
# Headless Chromium for the browser tests: prints the path of the chromium executable.
#
#   infra/chromium.sh    # e.g. /usr/bin/chromium
#
# Uses the `chromium` found on PATH, installing Debian's `chromium` package when there is
# none (about 16 s; needs root, as infra/postgres/postgres.sh does for PostgreSQL). The
# tests start it themselves (headless, a throwaway profile) and stop it.
set -euo pipefail

log() { echo "chromium.sh: $*" >&2; }

path="$(command -v chromium || true)"
if [[ -z "$path" ]]; then
    log "installing Chromium from Debian"
    "$(dirname "${BASH_SOURCE[0]}")/debian-install.sh" chromium
    path="$(command -v chromium || true)"
fi
[[ -n "$path" ]] || { log "no chromium found after installing it"; exit 1; }
echo "$path"
