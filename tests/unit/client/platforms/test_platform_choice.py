"""The client chooses its platform once: only platforms/__init__.py asks which OS it runs on,
and posix.py and windows.py offer the same names."""

import ast
from pathlib import Path

import patchpilot.client
import patchpilot.protocol
from patchpilot.client import platforms
from patchpilot.client.platforms import posix

CHOICE = Path(platforms.__file__)
TREES = (Path(patchpilot.client.__file__).parent, Path(patchpilot.protocol.__file__).parent)
ASKS = {("os", "name"), ("sys", "platform")}


def _asks(path: Path) -> list:
    """Return the lines of path that read os.name or sys.platform (also when imported by name)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if (node.value.id, node.attr) in ASKS:
                found.append(node.lineno)
        elif isinstance(node, ast.ImportFrom) and any(
            (node.module, alias.name) in ASKS for alias in node.names
        ):
            found.append(node.lineno)
    return found


def test_only_the_platform_choice_asks_which_os() -> None:
    sources = sorted(p for tree in TREES for p in tree.rglob("*.py"))
    asking = {str(p): _asks(p) for p in sources if _asks(p)}
    assert list(asking) == [str(CHOICE)], asking


def test_the_check_sees_a_question() -> None:
    assert _asks(CHOICE), "the platform choice itself must be found, or the check proves nothing"


def test_both_platforms_offer_the_same_names() -> None:
    windows = ast.parse((CHOICE.parent / "windows.py").read_text(encoding="utf-8"))
    defined = set()
    for node in windows.body:
        if isinstance(node, ast.FunctionDef):
            defined.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            defined.update(t.id for t in targets if isinstance(t, ast.Name))
    assert set(platforms.__all__) <= defined
    assert all(hasattr(posix, name) for name in platforms.__all__)
    assert platforms.DEFAULT_BACKEND == "auto" and platforms.PIPES_SELECT
