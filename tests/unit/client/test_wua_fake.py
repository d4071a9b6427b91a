"""The fake's criteria grammar and HRESULTs in words: the fake must refuse what WUA refuses."""

import pytest

from patchpilot.client.backends.hresult import (
    describe_hresult,
    format_hresult,
    parse_hresult,
    result_code_name,
)
from patchpilot.client.backends.wua_fake import FakeComError, parse_criteria


def test_or_groups_and_values() -> None:
    groups = parse_criteria(
        "(IsInstalled=0 and Type='Software') or (CategoryIDs contains 'ABC' and BrowseOnly=1)"
    )
    assert groups == [
        [("IsInstalled", "=", 0), ("Type", "=", "Software")],
        [("CategoryIDs", "contains", "ABC"), ("BrowseOnly", "=", 1)],
    ]


@pytest.mark.parametrize(
    "criteria",
    [
        "IsInstalled=0 and (Type='Software' or Type='Driver')",  # or only at the top level
        "IsInstalled!=1",  # != only on Type
        "Title='x'",  # not a search property
        "IsInstalled=0 and",
        "(IsInstalled=0",
        "CategoryIDs='ABC'",
        "IsInstalled=0; drop",
    ],
)
def test_invalid_criteria_raise_wu_e_invalid_criteria(criteria: str) -> None:
    with pytest.raises(FakeComError) as info:
        parse_criteria(criteria)
    assert info.value.hresult == 0x80240032


@pytest.mark.parametrize(
    ("code", "text"),
    [
        (0x80070005, "0x80070005 E_ACCESSDENIED: access denied"),
        (0x80240044, "0x80240044 WU_E_PER_MACHINE_UPDATE_ACCESS_DENIED"),
        (0x8024402C, "0x8024402C WU_E_PT_WINHTTP_NAME_NOT_RESOLVED"),
        (0x8024002C, "0x8024002C WU_E_SOURCE_ABSENT"),
        (0x80240020, "0x80240020 WU_E_NO_INTERACTIVE_USER"),
        (0x8007045B, "0x8007045B ERROR_SHUTDOWN_IN_PROGRESS"),
        (0x00240005, "0x00240005 WU_S_REBOOT_REQUIRED"),
        (-2147024891, "0x80070005 E_ACCESSDENIED"),
        (0x80241234, "0x80241234: error code of Windows Update"),
        (0x80071234, "0x80071234: error code of Win32"),
    ],
)
def test_describe_hresult(code: int, text: str) -> None:
    assert describe_hresult(code).startswith(text)


def test_parse_and_format() -> None:
    assert parse_hresult("0x80072ee2") == 0x80072EE2
    assert parse_hresult(-2147012894) == 0x80072EE2
    assert parse_hresult(None) is None
    assert format_hresult(0x240005) == "0x00240005"
    assert result_code_name(3) == "SucceededWithErrors"
    assert result_code_name(9) == "Unknown(9)"
