"""rpmvercmp and EVR comparison, checked against the real rpm (`rpm.vercmp` in rpm's Lua)."""

import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import List, Tuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from patchpilot.client.backends.rpmversion import compare_evr, rpmvercmp, split_evr

GOLDEN = [
    ("1.0", "1.0", 0),
    ("1.0", "2.0", -1),
    ("2.0", "1.0", 1),
    ("2.0.1", "2.0", 1),
    ("1.0~rc1", "1.0", -1),
    ("1.0~rc1", "1.0~rc2", -1),
    ("1.0~~", "1.0~", -1),
    ("1.0^", "1.0", 1),
    ("1.0^git1", "1.0", 1),
    ("1.0^git1", "1.0.1", -1),
    ("1.0^git1~pre", "1.0^git1", -1),
    ("1.0a", "1.0", 1),
    ("1.0a", "1.0.1", -1),
    ("10", "9", 1),
    ("010", "10", 0),
    ("1.a", "1.1", -1),
    ("1_0", "1.0", 0),
    ("1:1.0", "2.0", 1),
    ("0:1.0", "1.0", 0),
    ("1.0-1", "1.0-2", -1),
    ("1.0", "1.0-2", -1),
    ("1:0.9-1", "1.0-1", 1),
    ("0", "0-.", -1),  # found by hypothesis: any release sorts after none
    ("1.0", "1.0-~", -1),
    ("0-", "0-.", 0),
]


@pytest.mark.parametrize(("left", "right", "expected"), GOLDEN)
def test_golden_pairs(left: str, right: str, expected: int) -> None:
    assert compare_evr(left, right) == expected
    assert compare_evr(right, left) == -expected


def test_split_evr() -> None:
    assert split_evr("2:1.0-3.el9") == ("2", "1.0", "3.el9")
    assert split_evr("1.0") == (None, "1.0", None)
    assert split_evr(":1.0-1") == ("0", "1.0", "1")


def real_vercmp(pairs: List[Tuple[str, str]]) -> List[int]:
    """Ask the real rpm to compare each pair (hex-encoded: no quoting or macro expansion)."""
    rpm = shutil.which("rpm")
    if rpm is None:
        pytest.skip("rpm is not installed (scripts/install.sh installs it)")
    lines = "\n".join(f"{a.encode().hex()} {b.encode().hex()}" for a, b in pairs)
    script = (
        "local function unhex(h) return (h:gsub('..', function(c) "
        "return string.char(tonumber(c, 16)) end)) end\n"
        "for line in io.lines(arg_file) do\n"
        "  local a, b = line:match('^(%x*) (%x*)$')\n"
        "  io.write(rpm.vercmp(unhex(a), unhex(b)), '\\n')\n"
        "end\n"
    )
    with tempfile.TemporaryDirectory() as tmp:
        data, code = Path(tmp) / "pairs", Path(tmp) / "cmp.lua"
        data.write_text(lines + "\n")
        code.write_text(f"local arg_file = {str(data)!r}\n" + script)
        done = subprocess.run(
            [rpm, "--eval", f"%{{lua: dofile('{code}')}}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            universal_newlines=True,
            check=True,
        )
    return [int(word) for word in done.stdout.split()]


def test_golden_pairs_agree_with_rpm() -> None:
    pairs = [(a, b) for a, b, _ in GOLDEN]
    assert real_vercmp(pairs) == [e for _, _, e in GOLDEN]


_VERSION = st.text(alphabet="0123456789abzAZ.~^_+", min_size=1, max_size=8)
_EVR = st.builds(
    lambda e, v, r: (f"{e}:" if e is not None else "") + v + (f"-{r}" if r is not None else ""),
    st.one_of(st.none(), st.integers(0, 3).map(str)),
    _VERSION.filter(bool),
    st.one_of(st.none(), _VERSION.filter(bool)),
)


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(st.tuples(_VERSION, _VERSION), min_size=40, max_size=40))
def test_rpmvercmp_agrees_with_rpm(pairs: List[Tuple[str, str]]) -> None:
    assert [rpmvercmp(a, b) for a, b in pairs] == real_vercmp(pairs)


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(st.tuples(_EVR, _EVR), min_size=40, max_size=40))
def test_compare_evr_agrees_with_rpm(pairs: List[Tuple[str, str]]) -> None:
    assert [compare_evr(a, b) for a, b in pairs] == real_vercmp(pairs)
