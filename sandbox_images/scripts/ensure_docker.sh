#!/bin/sh
# Make a Docker engine answer `docker info`, installing and starting it when needed.
#
# Idempotent: when `docker info` already works it does nothing. Otherwise it installs the
# docker.io package with apt when dockerd (or the docker CLI) is missing, starts dockerd in the
# background (log: $DOCKERD_LOG, default /tmp/agentscope-faas-dockerd.log) and polls
# `docker info` until it answers, for at most $DOCKER_WAIT_S seconds (default 60). A dockerd
# whose pid is in $DOCKER_PIDFILE (default /var/run/docker.pid) is waited for, not started.
# Callers take turns on a lock; the dockerd started here does not hold it.
# Installing and starting the daemon need root; without it the script says what to do.
set -eu

DOCKERD_LOG="${DOCKERD_LOG:-/tmp/agentscope-faas-dockerd.log}"
DOCKER_WAIT_S="${DOCKER_WAIT_S:-60}"
DOCKER_PIDFILE="${DOCKER_PIDFILE:-/var/run/docker.pid}"
LOCK="${TMPDIR:-/tmp}/agentscope-faas-ensure-docker.lock"

say() { echo "ensure_docker: $*" >&2; }
die() { say "error: $*"; exit 1; }

docker_works() { command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; }

if docker_works; then
    exit 0
fi

# one caller at a time (parallel test sessions, `make images` next to `make test`)
if command -v flock >/dev/null 2>&1; then
    exec 9>"$LOCK"
    flock 9
    if docker_works; then
        exit 0
    fi
fi

is_root() { [ "$(id -u)" -eq 0 ]; }

# dockerd writes its pid file when it starts; /proc works without procps and for any user
dockerd_running() {
    pid=$(cat "$DOCKER_PIDFILE" 2>/dev/null) || return 1
    [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = dockerd ]
}

if ! command -v dockerd >/dev/null 2>&1 || ! command -v docker >/dev/null 2>&1; then
    is_root || die "Docker is not installed and this is not root; install it with
    sudo apt-get install -y docker.io   (or Docker's own packages) and start dockerd"
    command -v apt-get >/dev/null 2>&1 || die "Docker is not installed and apt-get is missing;
    install a Docker engine by hand and start it"
    say "installing docker.io with apt"
    sh "$(dirname "$0")/apt_install.sh" docker.io
fi

if dockerd_running; then
    say "dockerd is running but not answering yet; waiting for it"
else
    if ! is_root; then
        if [ -S /var/run/docker.sock ]; then
            die "the Docker daemon's socket exists but \`docker info\` fails for $(id -un);
    add the user to the docker group (sudo usermod -aG docker $(id -un)) or run as root"
        fi
        die "dockerd is not running and this is not root; start it with
    sudo dockerd >$DOCKERD_LOG 2>&1 &   (or: sudo systemctl start docker)"
    fi
    say "starting dockerd (log: $DOCKERD_LOG)"
    # 9>&-: the daemon outlives this script, and an inherited lock descriptor would keep the
    # lock held for as long as it runs, so the next caller waiting on it would wait for ever.
    # setsid: its own session, so a caller whose process group is killed (a test timeout, a
    # job runner stopping `make test`) does not take the engine every other caller uses with it
    if command -v setsid >/dev/null 2>&1; then
        setsid nohup dockerd >"$DOCKERD_LOG" 2>&1 </dev/null 9>&- &
    else
        nohup dockerd >"$DOCKERD_LOG" 2>&1 </dev/null 9>&- &
    fi
    DOCKERD_PID=$!
fi

deadline=$(($(date +%s) + DOCKER_WAIT_S))
until docker info >/dev/null 2>&1; do
    if [ -n "${DOCKERD_PID:-}" ] && ! kill -0 "$DOCKERD_PID" 2>/dev/null; then
        tail -n 20 "$DOCKERD_LOG" >&2 || true
        die "dockerd exited; see $DOCKERD_LOG"
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
        tail -n 20 "$DOCKERD_LOG" >&2 2>/dev/null || true
        die "docker info did not answer within ${DOCKER_WAIT_S}s; see $DOCKERD_LOG"
    fi
    sleep 0.2
done
say "Docker is ready"
