"""CLI: `patchpilot lab ...`: start, list, control and stop a lab of real test servers.

Registered through the `patchpilot.commands` entry point (`register`), so the product's own
command line never imports the lab.

The lab keeps running after `lab up` returns (its supervisor is detached); every other
command talks to that supervisor through the lab folder (`--dir`, default
/var/lib/patchpilot/lab or $PATCHPILOT_LAB_DIR).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from patchpilot.lab import Lab
from patchpilot.lab.releases import DEFAULT_RELEASE

__all__ = ["app", "register"]

app = typer.Typer(no_args_is_help=True)

DirOption = Annotated[
    Path,
    typer.Option("--dir", envvar="PATCHPILOT_LAB_DIR", help="The lab folder.", show_default=True),
]
HostArgument = Annotated[str, typer.Argument(help="Server name, e.g. lab-1.")]
DEFAULT_DIR = Path("/var/lib/patchpilot/lab")


@app.command()
def up(
    servers: Annotated[int, typer.Argument(min=0, max=253, help="Number of servers.")] = 3,
    vm: Annotated[int, typer.Option("--vm", min=0, max=2, help="Number of qemu VMs.")] = 0,
    directory: DirOption = DEFAULT_DIR,
    rebuild_base: Annotated[
        bool, typer.Option("--rebuild-base", help="Rebuild the cached base image first.")
    ] = False,
    flavor: Annotated[
        str,
        typer.Option(help="apt, rpm (= dnf), dnf, zypper, or mixed (apt, dnf, zypper in turn)."),
    ] = "apt",
    release: Annotated[
        str,
        typer.Option(
            help="The apt servers' Debian: bullseye (11), bookworm (12) or trixie (13); "
            "a release's image is built on first use."
        ),
    ] = DEFAULT_RELEASE,
) -> None:
    """Start a lab of SERVERS servers (building the base image on first use)."""
    lab = Lab(directory)
    lab.up(servers, vms=vm, rebuild_base=rebuild_base, flavor=flavor, release=release)
    _print_servers(lab)
    typer.echo(f"\nssh -F {lab.ssh_config_path} lab-1")
    typer.echo(f"inventory: {lab.inventory_path}\nrepository: {lab.repo.url}")


@app.command()
def down(directory: DirOption = DEFAULT_DIR) -> None:
    """Stop the lab and remove everything it created on this machine."""
    Lab(directory).down()
    typer.echo(f"lab in {directory} is down")


@app.command(name="list")
def list_servers(directory: DirOption = DEFAULT_DIR) -> None:
    """Show the lab's servers: name, address, state, boot id."""
    _print_servers(Lab(directory))


@app.command()
def reboot(host: HostArgument, directory: DirOption = DEFAULT_DIR) -> None:
    """Reboot a server cleanly and wait until SSH answers with a new boot id."""
    boot_id = Lab(directory).reboot(host)
    typer.echo(f"{host} rebooted, boot id {boot_id or '(down)'}")


@app.command()
def cut(host: HostArgument, directory: DirOption = DEFAULT_DIR) -> None:
    """Take a server's network link down."""
    Lab(directory).cut(host)
    typer.echo(f"{host}: link down")


@app.command()
def restore(host: HostArgument, directory: DirOption = DEFAULT_DIR) -> None:
    """Bring a server's network link back up."""
    Lab(directory).restore(host)
    typer.echo(f"{host}: link up")


@app.command()
def hang(
    host: HostArgument,
    seconds: Annotated[
        float | None, typer.Option("--seconds", help="Stay down this long (default: forever).")
    ] = None,
    directory: DirOption = DEFAULT_DIR,
) -> None:
    """At the server's next reboot, stay down for --seconds, or for good (see `lab start`)."""
    Lab(directory).hang(host, seconds)
    typer.echo(
        f"{host} will stay down {f'{seconds:g} s' if seconds else 'for good'} at next reboot"
    )


@app.command()
def start(host: HostArgument, directory: DirOption = DEFAULT_DIR) -> None:
    """Boot a server that is down."""
    boot_id = Lab(directory).start(host)
    typer.echo(f"{host} is up, boot id {boot_id}")


def _print_servers(lab: Lab) -> None:
    rows = [["NAME", "ADDRESS", "PORT", "KIND", "FLAVOR", "RELEASE", "STATE", "BOOT ID"]]
    for item in lab.status():
        state = f"{item['state']} (cut)" if item["cut"] else str(item["state"])
        rows.append(
            [
                str(item["name"]),
                str(item["address"]),
                str(item["ssh_port"]),
                str(item["kind"]),
                str(item.get("flavor", "apt")),
                str(item.get("release", DEFAULT_RELEASE)),
                state,
                str(item["boot_id"] or "-"),
            ]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        typer.echo(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )


def register(root: typer.Typer) -> None:
    """Add `lab` to the patchpilot command line."""
    root.add_typer(app, name="lab", help="Start and control a lab of real test servers.")
