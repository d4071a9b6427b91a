"""`patchpilot client build --windows`: the share folder an operator publishes."""

from __future__ import annotations

import hashlib
from pathlib import Path

from typer.testing import CliRunner

from patchpilot.cli.main import app
from patchpilot.windows_share import lay_out_share


def test_share_folder(tmp_path: Path) -> None:
    share = lay_out_share(tmp_path / "share")
    files = sorted(p.name for p in share.folder.iterdir())
    assert files == ["README-SHARE.txt", "SHA256SUMS", "patchpilot-client.pyz"]
    assert hashlib.sha256(share.client.read_bytes()).hexdigest() == share.sha256
    assert (share.folder / "SHA256SUMS").read_text() == f"{share.sha256}  patchpilot-client.pyz\n"
    readme = (share.folder / "README-SHARE.txt").read_bytes().decode()
    assert "\r\n" in readme and "READ-ONLY" in readme and "embeddable" in readme


def test_cli_flag(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["client", "build", "--windows", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "embeddable" in result.output
    assert (tmp_path / "README-SHARE.txt").exists()
