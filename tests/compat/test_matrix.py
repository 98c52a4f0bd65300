"""The compatibility matrix on this backend: every cell trains and matches its reference, or is refused before
the first batch with the expected message. The distributed contexts run in a process of their own
(tests/compat/run_distributed.py)."""

import contextlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from tests.compat import cells as run
from tests.compat.matrix import DISTRIBUTED, Cell, cells_for, known_gap, refusal

BACKEND = keras.backend.backend()
LOCAL = [cell for cell in cells_for(BACKEND) if cell.context not in DISTRIBUTED]
_references: dict[str, list] = {}


def _reference(cell: Cell) -> list:
    reference = run.reference_cell(cell)
    if reference.id not in _references:
        _references[reference.id] = run.train(reference)[0]
    return _references[reference.id]


def check_cell(cell: Cell, context=contextlib.nullcontext) -> str:
    """Runs ``cell`` inside ``context()`` (a distribution's scope); returns "works" or "refused" after checking
    it, raises on anything else."""
    reason = refusal(cell)
    reference = _reference(cell) if cell.context != "one_device" and reason is None else None
    try:
        with context():
            weights, recorder, model, callbacks = run.train(cell)
    except run.Refused as error:
        assert reason is not None, f"{cell.id} was refused, but it should train: {error}"
        assert re.search(reason.match, str(error)), f"{cell.id}: refused with an unexpected message: {error}"
        return "refused"
    assert reason is None, f"{cell.id} trained, but it should be refused ({reason.reason})"
    run.check_trained(cell, weights, recorder, model, callbacks)
    if reference is not None:
        for got, want in zip(weights, reference, strict=True):
            np.testing.assert_allclose(got, want, **run.tolerance(cell), err_msg=cell.id)
    return "works"


def _params(cells):
    return [pytest.param(cell, id=cell.id, marks=[pytest.mark.xfail(reason=known_gap(cell, BACKEND))]
                         if known_gap(cell, BACKEND) else []) for cell in cells]


@pytest.mark.parametrize("cell", _params(LOCAL))
def test_cell(cell):
    check_cell(cell)


def _distributed_cells():
    return [cell for cell in cells_for(BACKEND) if cell.context in DISTRIBUTED]


@pytest.fixture(scope="module")
def distributed_results():
    """All distributed cells of this backend, run once in a process of their own."""
    results = {}
    by_context = {}
    for cell in _distributed_cells():
        by_context.setdefault(cell.context, []).append(cell.id)
    root = Path(__file__).resolve().parents[2]
    for context, ids in by_context.items():
        env = {**os.environ, "PYTHONPATH": str(root)}
        done = subprocess.run([sys.executable, "-m", "tests.compat.run_distributed", context, *ids],
                              capture_output=True, text=True, cwd=root, env=env, timeout=1500)
        for line in done.stdout.splitlines():
            if line.startswith("{"):
                result = json.loads(line)
                results[result["id"]] = result
        results.setdefault("__stderr__", done.stderr[-3000:])
    return results


@pytest.mark.parametrize("cell", _params(_distributed_cells()))
def test_distributed_cell(cell, distributed_results):
    result = distributed_results.get(cell.id)
    assert result is not None, f"{cell.id} produced no result: {distributed_results['__stderr__']}"
    assert "error" not in result, result["error"]
    assert result["outcome"] == ("refused" if refusal(cell) else "works"), result
