"""Subnet choice and per-lab names."""

from __future__ import annotations

from ipaddress import IPv4Network

import pytest

from patchpilot.lab.errors import LabError
from patchpilot.lab.network import LabNetwork, choose_index


def test_preferred_subnet_is_taken_when_free() -> None:
    assert choose_index([IPv4Network("192.0.2.0/24")], 7) == 7


def test_collisions_are_skipped_and_wrap_around() -> None:
    used = [IPv4Network("10.231.254.0/24"), IPv4Network("10.231.1.0/24")]
    assert choose_index(used, 254) == 2


def test_a_wider_route_blocks_every_subnet() -> None:
    with pytest.raises(LabError, match="no free subnet"):
        choose_index([IPv4Network("10.0.0.0/8")], 5)


def test_names_and_addresses_derive_from_the_index() -> None:
    network = LabNetwork(42)
    assert (network.bridge, network.gateway, network.veth(3)) == (
        "pplab42",
        "10.231.42.1",
        "pp42v3",
    )
    assert network.address(1) == "10.231.42.2"
    with pytest.raises(LabError):
        network.address(254)
