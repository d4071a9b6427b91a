"""The built-in catalog: what is installed, what updates, what is opt-in."""

from __future__ import annotations

from patchpilot.lab.catalog import BASE_INSTALLED, FINAL_VERSIONS, OPT_IN, STAGE2_LIST, UPDATES


def test_every_base_package_has_an_update() -> None:
    assert {spec.name for spec in BASE_INSTALLED} == set(FINAL_VERSIONS)
    assert FINAL_VERSIONS["lab-stage2-x"] == "2.0"
    assert FINAL_VERSIONS["lab-security"] == "1.1"


def test_opt_in_packages_are_not_on_the_base() -> None:
    assert not {spec.name for spec in OPT_IN} & {spec.name for spec in BASE_INSTALLED}


def test_servicing_enables_stage2_and_marks_a_reboot() -> None:
    servicing = next(spec for spec in UPDATES if spec.name == "lab-servicing")
    assert servicing.postinst is not None
    assert STAGE2_LIST in servicing.postinst and "reboot-required.pkgs" in servicing.postinst
    stage2 = next(spec for spec in UPDATES if spec.name == "lab-stage2-x")
    assert stage2.suite == "bookworm-stage2"
