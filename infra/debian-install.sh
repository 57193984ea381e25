#!/usr/bin/env bash
# Installs Debian packages for the infra scripts (needs root), one installer at a time:
# infra/services.sh starts the servers together, and apt's locks refuse a second apt-get.
#
#   infra/debian-install.sh PACKAGE...
set -euo pipefail
exec 9>"${TMPDIR:-/tmp}/kinestream-apt.lock"
flock 9
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
