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


def test_every_registered_callback_is_a_matrix_value_or_says_why_not():
    from keras_optkit import list_entries
    from tests.compat.matrix import NOT_IN_MATRIX, callbacks

    registered = {entry.name for entry in list_entries("callback")}
    assert set(NOT_IN_MATRIX) <= registered, set(NOT_IN_MATRIX) - registered
    assert registered - set(NOT_IN_MATRIX) == set(callbacks()) - {"none", "find_lr"}
    assert "MagnitudePruning" in callbacks()
