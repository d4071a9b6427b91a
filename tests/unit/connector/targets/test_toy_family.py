"""A family is one module plus one registration: the toy family (toy_family.py, outside
src/) gets its --os, its own option and backend, its rules, and runs a full round (issue 28)."""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest
from connector_fakes import FakeClient, FakeTarget, final, record
from options_app import invoke

from patchpilot.connector import target_family
from patchpilot.connector.exitcodes import Outcome
from patchpilot.connector.flat_options import flat_fields
from patchpilot.connector.fleet.job import host_options
from patchpilot.connector.inventory import HostEntry
from patchpilot.connector.options import RunOptions
from patchpilot.connector.run.runner import run_target
from patchpilot.connector.store import Store
from patchpilot.connector.target_spec import TargetSpec
from patchpilot.connector.targets import TARGETS
from patchpilot.errors import ConfigurationError

SRC = Path(__file__).resolve().parents[4] / "src"
DOCS = Path(__file__).resolve().parents[4] / "docs" / "architecture.md"


@pytest.fixture
def toy(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """Import the toy family (its decorator registers it) for this test only: the registry is
    a copy, dropped after the test, so no other test sees a third family."""
    target_family.target_families()  # the installed families, before the copy
    monkeypatch.setattr(target_family, "_REGISTERED", dict(target_family._REGISTERED))
    monkeypatch.delitem(sys.modules, "toy_family", raising=False)
    return importlib.import_module("toy_family")


@pytest.fixture
def store(open_store: Callable[[], Store]) -> Store:
    return open_store()


def test_the_families_are_what_registered() -> None:
    assert list(target_family.target_families()) == ["linux", "windows"]
    assert "toy_channel" not in flat_fields()
    with pytest.raises(ValueError, match="Input should be 'linux' or 'windows'"):
        RunOptions(os="toy")


async def test_a_toy_server_is_patched_in_a_full_round(
    toy: ModuleType, store: Store, tmp_path: Path
) -> None:
    rounds = {
        1: [
            record(1, "run.started"),
            record(2, "plan.selected", selected=["toy-a"], plan={"toy-a": "2"}),
            record(3, "update.result", id="toy-a", status="installed", version="2"),
            final(4, results=[{"id": "toy-a", "status": "installed", "version": "2"}]),
        ]
    }
    target = FakeTarget("r1", rounds)
    options = RunOptions(
        run_id="r1", stability_window=0, os="toy", backend="toy-pkg", toy_channel="beta"
    )
    result = await run_target(
        TargetSpec("toy1", "toy1"),
        options,
        store=store,
        on_event=lambda event: None,
        transport=target.transport,
        client=FakeClient.make(tmp_path),
    )
    assert result.outcome is Outcome.SUCCESS and result.exit_code == 0
    assert [(u["id"], u["status"]) for u in result.updates] == [("toy-a", "installed")]
    assert target.launched == [1]
    job = json.loads(target.transport.files["/var/lib/patchpilot/runs/r1/round-1/job.json"][0])
    assert job["backend"] == "toy-pkg" and job["toy"] == {"channel": "beta"}
    assert "windows" not in job
    stored = RunOptions.model_validate_json(store.run("r1").options)  # type: ignore[union-attr]
    assert stored == options and stored.family_options(toy.ToyOptions).toy_channel == "beta"
    assert TARGETS["toy"] is toy.ToyOS


def test_the_toy_familys_options_are_on_the_command_line(toy: ModuleType) -> None:
    code, _, text = invoke(["--help"])
    assert code == 0 and "--toy-channel" in text and "Toy: the channel updates come from" in text
    assert "linux|toy|windows" in text and "toy-pkg" in text  # --os and --backend choices
    code, seen, text = invoke(["--os", "toy", "--toy-channel", "beta", "--backend", "toy-pkg"])
    assert code == 0, text
    assert seen[0].os == "toy" and seen[0].family_options(toy.ToyOptions).toy_channel == "beta"
    for argv, words in [
        (["--toy-channel", "gamma"], "Invalid value for '--toy-channel'"),
        (["--os", "toy", "--backend", "toy-pkg", "--security-only"], toy.NO_SECURITY),
        (["--os", "toy", "--launcher", "at"], "--launcher at is not a scheduler of --os toy"),
        (["--os", "toy", "--transport", "psrp"], "--transport psrp is not a transport of --os"),
    ]:
        code, seen, text = invoke(argv)
        assert code != 0 and not seen and words in text, (argv, text)


def test_the_json_schema_shows_the_toy_family(toy: ModuleType) -> None:
    schema = RunOptions.model_json_schema()
    fields = schema["properties"]
    assert (
        fields["os"]["enum"] == ["linux", "toy", "windows"] and fields["os"]["default"] == "linux"
    )
    assert "toy-pkg" in fields["backend"]["enum"]
    assert fields["toy"]["properties"]["toy_channel"]["enum"] == ["stable", "beta"]
    names = list(fields)
    assert names.index("plan") + 1 == names.index("toy") == names.index("windows") - 1
    assert names.index("windows") + 1 == names.index("backend")  # where --help has them
    assert schema["additionalProperties"] is False


def test_an_inventory_sets_the_toy_familys_options(toy: ModuleType) -> None:
    host = HostEntry(
        "t1", "10.0.0.1", vars={"patchpilot_os": "toy", "patchpilot_toy_channel": "beta"}
    )
    options = host_options(RunOptions(), host)
    assert options.os == "toy" and options.model_dump()["toy"] == {"toy_channel": "beta"}
    bad = HostEntry("t2", "10.0.0.2", vars={"patchpilot_toy_channel": "nightly"})
    with pytest.raises(ConfigurationError, match="patchpilot_toy_channel: Input should be"):
        host_options(RunOptions(), bad)


def test_a_family_needs_nothing_under_src_and_the_docs_say_what_it_needs(toy: ModuleType) -> None:
    """Nothing in the product names the toy family; docs/architecture.md's recipe names the
    parts toy_family.py uses."""
    for path in SRC.rglob("*"):
        if path.is_file() and path.suffix in (".py", ".toml", ".cfg", ".txt"):
            text = path.read_text(errors="replace")
            assert "toy_family" not in text and "ToyOS" not in text, path
    recipe = DOCS.read_text().split("## Adding a target family")[1].split("\n## ")[0]
    for part in ("TargetOS", "@register_family", "own_options", "check_options", "backends",
                 "patchpilot.families", "toy_family.py"):  # fmt: skip
        assert part in recipe, part


def test_an_installed_family_is_found_through_its_entry_point(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A distribution that declares the toy family in the `patchpilot.families` group is
    loaded the first time the families are asked for, nothing imported by hand."""
    target_family.target_families()
    dist = tmp_path / "toy_family-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-family\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[patchpilot.families]\ntoy = toy_family:ToyOS\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(target_family, "_REGISTERED", dict(target_family._REGISTERED))
    monkeypatch.setattr(target_family, "_loaded", False)
    monkeypatch.delitem(sys.modules, "toy_family", raising=False)
    assert "toy" not in target_family._REGISTERED
    assert list(target_family.target_families()) == ["linux", "toy", "windows"]
    assert RunOptions(os="toy", toy_channel="beta").os == "toy"


def test_two_families_cannot_share_a_name_or_an_option(toy: ModuleType) -> None:
    class Impostor(toy.ToyOS):  # type: ignore[name-defined,misc]
        pass

    with pytest.raises(ConfigurationError, match="two target families are called 'toy'"):
        target_family.register_family(Impostor)

    class Twin(toy.ToyOS):  # type: ignore[name-defined,misc]
        name = "twin"

    with pytest.raises(ConfigurationError, match="'toy' and 'twin' both declare toy_channel"):
        target_family.register_family(Twin)
