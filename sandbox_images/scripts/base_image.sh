#!/bin/sh
# Make the local base image the sandbox images build FROM, unless it already exists.
#
# BASE_IMAGE (default agentscope-faas/debian-python:bookworm) names it. When that image is
# present nothing happens (the cached case). When it is missing:
#   - the default name is made without any registry: debootstrap a minimal Debian rootfs with
#     Python 3 into a temp dir and `docker import` it (needs root; installs debootstrap with
#     apt when missing);
#   - any other name (e.g. python:3.11-slim-bookworm, for users with a registry) is pulled.
# DEBIAN_MIRROR (default http://deb.debian.org/debian) and DEBIAN_SUITE (default bookworm)
# pick where the rootfs comes from.
set -eu

DEFAULT_BASE_IMAGE=agentscope-faas/debian-python:bookworm
BASE_IMAGE="${BASE_IMAGE:-$DEFAULT_BASE_IMAGE}"
DEBIAN_MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
DEBIAN_SUITE="${DEBIAN_SUITE:-bookworm}"
LOCK="${TMPDIR:-/tmp}/agentscope-faas-base-image.lock"

say() { echo "base_image: $*" >&2; }
die() { say "error: $*"; exit 1; }

have_image() { docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; }

if have_image; then
    say "$BASE_IMAGE exists (cached)"
    exit 0
fi

# one builder at a time; whoever waited finds the image made
if command -v flock >/dev/null 2>&1; then
    exec 9>"$LOCK"
    flock 9
    if have_image; then
        say "$BASE_IMAGE exists (cached)"
        exit 0
    fi
fi

if [ "$BASE_IMAGE" != "$DEFAULT_BASE_IMAGE" ]; then
    say "pulling $BASE_IMAGE"
    docker pull "$BASE_IMAGE" || die "cannot pull $BASE_IMAGE; without a registry, unset
    BASE_IMAGE to make $DEFAULT_BASE_IMAGE locally with debootstrap"
    exit 0
fi

[ "$(id -u)" -eq 0 ] || die "making $BASE_IMAGE runs debootstrap, which needs root; run
    sudo $0   (or set BASE_IMAGE to an image you can pull, e.g. python:3.11-slim-bookworm)"

if ! command -v debootstrap >/dev/null 2>&1; then
    command -v apt-get >/dev/null 2>&1 || die "debootstrap is missing and apt-get too"
    say "installing debootstrap with apt"
    sh "$(dirname "$0")/apt_install.sh" debootstrap
fi

# /var/tmp, not /tmp: /tmp is often a tmpfs mounted noexec/nodev, where a chroot cannot run
ROOTFS=$(mktemp -d /var/tmp/agentscope-faas-rootfs.XXXXXX)
LOG="$ROOTFS.log"
cleanup() {
    # debootstrap mounts proc/sys inside the target; never delete through a live mount
    awk -v root="$ROOTFS/" 'index($2, root) == 1 { print $2 }' /proc/mounts | sort -r |
        while read -r mnt; do umount -l "$mnt" || true; done
    rm -rf --one-file-system "$ROOTFS" "$LOG"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start=$(date +%s)
say "debootstrap $DEBIAN_SUITE from $DEBIAN_MIRROR (about a minute; log: $LOG)"
if ! debootstrap --variant=minbase --include=python3-minimal,python3,ca-certificates \
    "$DEBIAN_SUITE" "$ROOTFS" "$DEBIAN_MIRROR" >"$LOG" 2>&1; then
    tail -n 30 "$LOG" >&2 || true
    die "debootstrap failed"
fi
# what only the build needed: downloaded packages and apt's lists
rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/lib/apt/lists/*

say "importing the rootfs as $BASE_IMAGE"
tar -C "$ROOTFS" --numeric-owner -c . |
    docker import -c 'ENV LANG=C.UTF-8' -c 'CMD ["python3"]' - "$BASE_IMAGE" >/dev/null
say "made $BASE_IMAGE in $(($(date +%s) - start)) s"
