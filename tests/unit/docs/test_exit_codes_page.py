"""docs/exit-codes.md lists exactly the native codes the program has (connector/exitcodes.py)."""

from docs_pages import documented_native_codes, native_codes


def test_the_page_lists_every_native_code_and_no_other() -> None:
    assert documented_native_codes() == native_codes()
