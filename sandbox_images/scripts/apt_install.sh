#!/bin/sh
# Install Debian packages on this host: `apt_install.sh [apt-get install options] PACKAGE...`
# (apt-get update first). Needs root. ensure_docker.sh, base_image.sh and the tests'
# ensure_chromium.sh may run at the same time (pytest-xdist's workers): apt-get refuses a
# second caller outright ("Could not get lock"), so callers take turns on one lock here,
# and wait for dpkg's own lock when something else on the machine holds it.
set -eu

LOCK="${TMPDIR:-/tmp}/agentscope-faas-apt.lock"
export DEBIAN_FRONTEND=noninteractive
if command -v flock >/dev/null 2>&1; then
    exec 9>"$LOCK"
    flock 9
fi
apt-get -o DPkg::Lock::Timeout=600 update -qq
apt-get -o DPkg::Lock::Timeout=600 install -y -qq "$@" >/dev/null
