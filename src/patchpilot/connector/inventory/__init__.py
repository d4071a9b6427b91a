"""Ansible inventories: `sources.py` parses YAML and INI files into a raw tree (pure),
`scripts.py` reads `ansible-inventory --list` JSON, inventory scripts and commands and merges
several sources, `model.py` resolves each host's variables and connection as Ansible does,
`patterns.py` applies Ansible's host patterns (`--limit`)."""

from patchpilot.connector.inventory.model import (
    HostEntry,
    Inventory,
    load_inventories,
    load_inventory,
)

__all__ = ["HostEntry", "Inventory", "load_inventories", "load_inventory"]
