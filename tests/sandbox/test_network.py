"""Docker sandboxes on a network of their own (issue 16, item 2), checked by configuration.

The network's settings and the host's firewall rules are read; no traffic is ever sent to a
non-loopback address. On fc the FC emulator's session containers are the sandboxes: they
run through the same launcher code, on the offline network for a session created without
``allowInternetAccess``.
"""

from __future__ import annotations

import secrets
import subprocess

import pytest

from functions.runtime.sandbox.launchers.docker_network import (
    DEFAULT_NETWORK,
    OFFLINE_SUFFIX,
    OPTION_BRIDGE,
    OPTION_ICC,
    _iptables,
    bridge_name,
)
from tests.sandbox.support import containers_of, text_of


def rules(chain: str) -> list[str]:
    """``iptables -S chain``: the rules as they are set on this host."""
    iptables = _iptables()
    assert iptables is not None, "iptables is needed to check the sandboxes' firewall"
    listed = subprocess.run(
        [iptables, "-w", "-S", chain], capture_output=True, text=True, check=True
    )
    return listed.stdout.splitlines()


def has_rule(chain: str, *parts: str) -> bool:
    return any(all(part in rule.split() for part in parts) for rule in rules(chain))


def network_of(docker_client, settings) -> tuple[str, dict]:
    (container,) = containers_of(docker_client, settings)
    (name,) = container.attrs["NetworkSettings"]["Networks"]  # only that one, no default bridge
    return name, docker_client.networks.get(name).attrs


def test_sandboxes_sit_on_their_own_bridge_without_inter_container_traffic_or_metadata(
    serve, settings, docker_client
):
    http = serve(settings)
    sid = http.post("/v1/sandboxes", json={"type": "base"}).json()["sandbox_id"]
    name, network = network_of(docker_client, settings)
    assert name == DEFAULT_NETWORK
    bridge = network["Options"][OPTION_BRIDGE]
    assert bridge == bridge_name(name)
    assert network["Driver"] == "bridge" and network["Options"][OPTION_ICC] == "false"
    assert network["Internal"] is False  # Docker publishes no port on an internal network
    # icc off: Docker's own FORWARD rule drops bridge-to-bridge traffic
    assert has_rule("FORWARD", "-i", bridge, "-o", bridge, "DROP")
    # egress allowed, but never to link-local (cloud metadata) nor Alibaba's metadata address
    assert has_rule("DOCKER-USER", "-i", bridge, "-d", "169.254.0.0/16", "REJECT")
    assert has_rule("DOCKER-USER", "-i", bridge, "-d", "100.100.100.200/32", "REJECT")
    of_bridge = [rule for rule in rules("DOCKER-USER") if bridge in rule.split()]
    assert all("-d" in rule.split() for rule in of_bridge)  # the rest of the egress is open
    # nothing new from the sandboxes to the host itself (its services on the gateway address)
    assert has_rule("INPUT", "-i", bridge, "NEW", "REJECT")
    ran = http.post(f"/v1/sandboxes/{sid}/tools/run_shell_command", json={"command": "echo up"})
    assert text_of(ran.json()) == "up\n"


def test_without_internet_access_the_sandboxes_bridge_has_no_egress_but_serves_its_port(
    serve, settings, docker_client
):
    offline = settings.model_copy(update={"sandbox_internet_access": False})
    http = serve(offline)
    sid = http.post("/v1/sandboxes", json={"type": "base"}).json()["sandbox_id"]
    name, network = network_of(docker_client, offline)
    assert name == DEFAULT_NETWORK + OFFLINE_SUFFIX
    bridge = network["Options"][OPTION_BRIDGE]
    assert network["Options"][OPTION_ICC] == "false"
    assert network["Labels"]["agentscope-faas.internet-access"] == "false"
    # every packet from the bridge that would leave through the host is refused
    assert f"-A DOCKER-USER -i {bridge} -j REJECT --reject-with icmp-port-unreachable" in rules(
        "DOCKER-USER"
    )
    assert has_rule("INPUT", "-i", bridge, "NEW", "REJECT")
    # the published 127.0.0.1 port still carries every call
    ran = http.post(f"/v1/sandboxes/{sid}/tools/run_shell_command", json={"command": "echo up"})
    assert text_of(ran.json()) == "up\n"


@pytest.mark.parametrize("sandbox_backend", ["docker"], indirect=True)  # the launcher's settings
def test_a_network_of_that_name_made_otherwise_is_refused(serve, settings, docker_client):
    name = f"asf-test-weak-{secrets.token_hex(4)}"
    weak = docker_client.networks.create(name, driver="bridge")  # icc on, no firewall label
    try:
        http = serve(settings.model_copy(update={"sandbox_docker_network": name}))
        refused = http.post("/v1/sandboxes", json={"type": "base"})
        assert refused.status_code == 503 and refused.json()["code"] == "launch_failed"
        assert "inter-container traffic on" in refused.json()["detail"]
        assert containers_of(docker_client, settings) == []
    finally:
        weak.remove()


@pytest.mark.parametrize("sandbox_backend", ["docker"], indirect=True)
def test_no_egress_without_a_firewall_is_refused_not_pretended(serve, settings):
    http = serve(
        settings.model_copy(
            update={"sandbox_internet_access": False, "sandbox_docker_firewall": "off"}
        )
    )
    refused = http.post("/v1/sandboxes", json={"type": "base"})
    assert refused.status_code == 503 and "SANDBOX_DOCKER_FIREWALL=off" in refused.text
