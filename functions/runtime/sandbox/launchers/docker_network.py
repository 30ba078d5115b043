"""The Docker network sandboxes run on: a bridge of the deployment's own, walled by the firewall.

The network (``SANDBOX_DOCKER_NETWORK``; by default ``agentscope-faas-sandboxes``, or
``agentscope-faas-sandboxes-offline`` when ``SANDBOX_INTERNET_ACCESS`` is false) is a
user-defined bridge created on first use with:

* ``com.docker.network.bridge.enable_icc=false``: Docker drops traffic between containers on
  it, so no sandbox reaches another;
* a fixed bridge name (``asf-`` and a hash of the network's name), so the firewall rules
  below name the bridge whatever id the network gets;
* not ``internal``: Docker publishes no port of a container on an internal network (its
  ``Ports`` stay empty, checked on Docker 20.10), and the tool server must answer on its
  127.0.0.1 port. Without internet access the firewall cuts the egress instead.

The firewall (``SANDBOX_DOCKER_FIREWALL=iptables``), rules in the filter table for packets
coming in from the bridge (``-i <bridge>``), inserted once and checked (``iptables -C``) by
each process before its first sandbox:

* chain ``DOCKER-USER`` (Docker's place for user rules, consulted first in FORWARD: traffic
  that leaves through the host): with internet access ``REJECT`` to each of
  ``SANDBOX_BLOCKED_CIDRS`` (link-local 169.254.0.0/16, where AWS, GCP and Azure serve
  instance metadata and ECS task credentials, and Alibaba Cloud's 100.100.100.200);
  without, ``REJECT`` everything;
* chain ``INPUT``: ``REJECT`` new connections from the bridge to the host itself (its own
  services on the bridge's gateway address, any link-local address of its own).

The published port is untouched by both: 127.0.0.1:<port> reaches the container from the
host (docker-proxy, or Docker's DNAT in OUTPUT), and the container's replies come back as
established packets to the host, never through FORWARD and never new.

A host where the rules cannot be set (not root, no iptables) fails the launch with the
commands to run as root, unless ``SANDBOX_DOCKER_FIREWALL=off`` accepts sandboxes without
them (and then only with internet access: a network it cannot cut is not offline).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from typing import Any

from ...settings import Settings
from ..errors import LaunchError

DEFAULT_NETWORK = "agentscope-faas-sandboxes"
OFFLINE_SUFFIX = "-offline"
OPTION_ICC = "com.docker.network.bridge.enable_icc"
OPTION_BRIDGE = "com.docker.network.bridge.name"
LABEL_NETWORK = "agentscope-faas.network"
LABEL_INTERNET = "agentscope-faas.internet-access"
FORWARD_CHAIN = "DOCKER-USER"
INPUT_CHAIN = "INPUT"

log = logging.getLogger("agentscope_faas.sandbox")

_ready: set[tuple[str, bool, tuple[str, ...], str]] = set()
_ready_lock = threading.Lock()


@dataclass(frozen=True)
class SandboxNetwork:
    name: str
    bridge: str  # the host's interface of the bridge
    internet_access: bool


def network_name(settings: Settings, internet_access: bool) -> str:
    if settings.sandbox_docker_network:
        return settings.sandbox_docker_network
    return DEFAULT_NETWORK if internet_access else DEFAULT_NETWORK + OFFLINE_SUFFIX


def bridge_name(network: str) -> str:
    """At most 15 characters (Linux's IFNAMSIZ), the same for the same network name."""
    return "asf-" + hashlib.sha256(network.encode()).hexdigest()[:11]


def blocked_cidrs(settings: Settings) -> tuple[str, ...]:
    return tuple(c.strip() for c in settings.sandbox_blocked_cidrs.split(",") if c.strip())


def firewall_rules(
    bridge: str, internet_access: bool, cidrs: tuple[str, ...]
) -> list[tuple[str, list[str]]]:
    """``(chain, rule)`` of every rule the bridge needs, in ``iptables -A`` syntax."""
    reject = ["-j", "REJECT"]
    if internet_access:
        rules = [(FORWARD_CHAIN, ["-i", bridge, "-d", cidr, *reject]) for cidr in cidrs]
    else:
        rules = [(FORWARD_CHAIN, ["-i", bridge, *reject])]
    rules.append((INPUT_CHAIN, ["-i", bridge, "-m", "conntrack", "--ctstate", "NEW", *reject]))
    return rules


def ensure_network(client: Any, settings: Settings, internet_access: bool) -> SandboxNetwork:
    """The sandboxes' network, created when missing, its firewall rules in place.

    Blocking (call it in a thread). Once per process and network; later calls are free.
    """
    name = network_name(settings, internet_access)
    cidrs = blocked_cidrs(settings)
    network = SandboxNetwork(name, bridge_name(name), internet_access)
    if not internet_access and settings.sandbox_docker_firewall == "off":
        raise LaunchError(
            "SANDBOX_INTERNET_ACCESS=false needs the firewall to cut the sandboxes' egress; "
            "SANDBOX_DOCKER_FIREWALL=off cannot give it"
        )
    key = (name, internet_access, cidrs, settings.sandbox_docker_firewall)
    with _ready_lock:
        if key in _ready:
            return network
        with _host_lock():
            found = _get_or_create(client, network)
            _check(found, network)
            if settings.sandbox_docker_firewall == "iptables":
                for chain, rule in firewall_rules(network.bridge, internet_access, cidrs):
                    _ensure_rule(chain, rule)
            else:
                log.warning(
                    "SANDBOX_DOCKER_FIREWALL=off: sandboxes on %s can reach %s and the host",
                    name,
                    ", ".join(cidrs) or "any address",
                )
        _ready.add(key)
    return network


@contextlib.contextmanager
def _host_lock() -> Any:
    """One process at a time sets networks and rules up (no duplicate rules, no races)."""
    path = os.path.join(tempfile.gettempdir(), "agentscope-faas-sandbox-network.lock")
    with open(path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _find(client: Any, name: str) -> Any | None:
    for candidate in client.networks.list(names=[name]):
        if candidate.name == name:  # the filter matches parts of names too
            return candidate
    return None


def _get_or_create(client: Any, network: SandboxNetwork) -> Any:
    import docker

    found = _find(client, network.name)
    if found is not None:
        return found
    try:
        return client.networks.create(
            network.name,
            driver="bridge",
            check_duplicate=True,
            options={OPTION_ICC: "false", OPTION_BRIDGE: network.bridge},
            labels={
                LABEL_NETWORK: "sandboxes",
                LABEL_INTERNET: str(network.internet_access).lower(),
            },
        )
    except docker.errors.APIError as exc:
        found = _find(client, network.name)  # another engine client made it first
        if found is None:
            raise LaunchError(
                f"cannot create the sandboxes' network {network.name}: {exc.explanation}"
            ) from None
        return found


def _check(found: Any, network: SandboxNetwork) -> None:
    """Refuse a network of that name made otherwise: never run a sandbox on a weaker one."""
    found.reload()
    attrs = found.attrs
    options = attrs.get("Options") or {}
    labels = attrs.get("Labels") or {}
    problems = []
    if attrs.get("Driver") != "bridge":
        problems.append(f"driver {attrs.get('Driver')!r}, not bridge")
    if options.get(OPTION_ICC) != "false":
        problems.append("inter-container traffic on")
    if options.get(OPTION_BRIDGE) != network.bridge:
        problems.append(f"bridge {options.get(OPTION_BRIDGE)!r}, not {network.bridge!r}")
    if labels.get(LABEL_INTERNET) != str(network.internet_access).lower():
        problems.append(f"made for {LABEL_INTERNET}={labels.get(LABEL_INTERNET)!r}")
    if attrs.get("Internal"):
        problems.append("internal (Docker publishes no ports there)")
    if problems:
        raise LaunchError(
            f"the Docker network {network.name} exists with other settings "
            f"({'; '.join(problems)}); remove it (docker network rm {network.name}) or name "
            "another with SANDBOX_DOCKER_NETWORK"
        )


def _iptables() -> str | None:
    return shutil.which("iptables") or next(
        (p for p in ("/usr/sbin/iptables", "/sbin/iptables") if os.access(p, os.X_OK)), None
    )


def _ensure_rule(chain: str, rule: list[str]) -> None:
    command = _iptables()
    text = " ".join(rule)
    help_text = (
        f"as root: iptables -I {chain} {text} (and the other rules in "
        "functions/runtime/sandbox/launchers/docker_network.py), or set "
        "SANDBOX_DOCKER_FIREWALL=off to run sandboxes without them"
    )
    if command is None:
        raise LaunchError(f"iptables is not installed: cannot wall the sandboxes off; {help_text}")
    try:
        present = subprocess.run(
            [command, "-w", "-C", chain, *rule], capture_output=True, text=True, timeout=30
        )
        if present.returncode == 0:
            return
        added = subprocess.run(
            [command, "-w", "-I", chain, *rule], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise LaunchError(f"iptables failed ({exc}); {help_text}") from None
    if added.returncode != 0:
        said = (added.stderr or present.stderr).strip().splitlines()[:1]
        raise LaunchError(
            f"cannot add the firewall rule for the sandboxes' bridge ({' '.join(said)}); "
            f"{help_text}"
        )
