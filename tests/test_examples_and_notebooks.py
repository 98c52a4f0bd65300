"""Every Colab notebook runs top to bottom and draws its pictures (quick mode, TensorFlow backend), and the
notebooks in git are exactly what colab/build_notebooks.py makes of the example scripts, outputs stripped: so
each script's code runs here, cell by cell. One script also runs as a script (tests/test_examples_output.py)."""

import importlib.util
import json
import os
import time
from pathlib import Path

import keras
import pytest

ROOT = Path(__file__).resolve().parent.parent
# Per notebook: the full notebook is meant to run in under 3 minutes on a CPU runtime; the quick mode
# run here takes a fraction of that.
TIME_LIMIT_S = 180


def _builder():
    pytest.importorskip("tomllib")
    spec = importlib.util.spec_from_file_location("build_notebooks", ROOT / "colab" / "build_notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SCRIPTS = sorted((ROOT / "examples").glob("[0-9][0-9]_*.py"))
NOTEBOOKS = sorted((ROOT / "colab").glob("[0-9][0-9]_*.ipynb"))


def test_there_is_a_notebook_for_every_example_and_no_other():
    assert len(SCRIPTS) >= 6
    assert [path.stem for path in NOTEBOOKS] == [path.stem for path in SCRIPTS]


def test_committed_notebooks_are_built_from_the_scripts_with_outputs_stripped():
    builder = _builder()
    expected = builder.expected_notebooks()
    assert sorted(expected) == NOTEBOOKS
    for path, text in expected.items():
        assert path.read_text() == text, f"{path.name} is stale: run python colab/build_notebooks.py"
        notebook = json.loads(text)
        assert all(cell.get("outputs", []) == [] for cell in notebook["cells"])


def test_notebooks_open_with_the_badge_and_the_install_cell():
    url = _builder().repository_url()
    for path in NOTEBOOKS:
        cells = json.loads(path.read_text())["cells"]
        badge = "".join(cells[0]["source"])
        assert "colab-badge.svg" in badge and f"colab/{path.name}" in badge, path.name
        install = "".join(cells[1]["source"])
        assert cells[1]["cell_type"] == "code" and f"git+{url}" in install, path.name
        assert 'find_spec("keras_optkit") is None' in install, path.name


def test_split_cells_reads_the_percent_format():
    builder = _builder()
    text = "# %% [markdown]\n# # Title\n#\n# Text.\n\n# %%\nx = 1\n\n\n# %% [markdown]\n# More.\n# %%\nprint(x)\n"
    assert builder.split_cells(text) == [
        ("markdown", "# Title\n\nText."), ("code", "x = 1"), ("markdown", "More."), ("code", "print(x)"),
    ]
    with pytest.raises(ValueError, match="before the first"):
        builder.split_cells("import os\n# %%\n")
    with pytest.raises(ValueError, match="not a comment"):
        builder.split_cells("# %% [markdown]\nx = 1\n")


def _quick_environment(out: Path) -> dict:
    environment = dict(os.environ, KERAS_OPTKIT_QUICK="1", KERAS_OPTKIT_OUT=str(out))
    environment.setdefault("KERAS_BACKEND", keras.backend.backend())
    return environment


@pytest.mark.single_backend
@pytest.mark.slow
@pytest.mark.parametrize("notebook_path", NOTEBOOKS, ids=[path.stem for path in NOTEBOOKS])
def test_notebook_runs_top_to_bottom(notebook_path, tmp_path, monkeypatch):
    nbclient = pytest.importorskip("nbclient")
    nbformat = pytest.importorskip("nbformat")
    for name, value in _quick_environment(tmp_path / "out").items():
        monkeypatch.setenv(name, value)
    # The kernel draws inline, as on Colab.
    monkeypatch.delenv("MPLBACKEND", raising=False)
    notebook = nbformat.reads(notebook_path.read_text(), as_version=4)
    started = time.perf_counter()
    # A limit on the whole notebook: each cell may use what the cells before it left of TIME_LIMIT_S.
    client = nbclient.NotebookClient(
        notebook, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}},
        timeout_func=lambda cell: max(1, int(TIME_LIMIT_S - (time.perf_counter() - started))),
    )
    try:
        client.execute()
    except nbclient.exceptions.CellExecutionError as error:
        failed = next(
            (cell for cell in notebook.cells
             if any(output.get("output_type") == "error" for output in cell.get("outputs", []))),
            None,
        )
        source = failed.source if failed is not None else "(cell not found)"
        pytest.fail(f"{notebook_path.name}: a cell failed.\n--- cell ---\n{source}\n--- error ---\n{error}")
    seconds = time.perf_counter() - started
    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(cell.execution_count is not None for cell in code_cells), "a code cell did not run"
    written = sorted(path.name for path in (tmp_path / "out").glob("*.png"))
    assert written, f"{notebook_path.name} wrote no figure"
    print(f"{notebook_path.name}: {seconds:.1f} s (quick mode)")
