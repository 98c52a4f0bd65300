"""docs/compatibility.md is generated from the matrix's rules (tests/compat/matrix.py), which test_matrix.py
checks cell by cell: the page must be what the generator writes now."""

from tests.compat.matrix import DOC, render


def test_compatibility_page_is_current():
    assert DOC.exists(), "docs/compatibility.md is missing: run `python -m tests.compat.matrix`"
    assert DOC.read_text() == render(), "docs/compatibility.md is out of date: run `python -m tests.compat.matrix`"


def test_the_page_lists_every_refusal_reason_once_per_pair():
    text = render()
    assert "refused: wrap the other way round" in text
    assert "## optimizer x wrapper" in text
