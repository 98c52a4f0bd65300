"""Writes colab/NN_name.ipynb from each examples/NN_name.py, so a notebook and its script are one story.

The scripts are in the "percent" cell format (``# %%`` starts a code cell, ``# %% [markdown]`` a markdown cell
whose lines are comments). Each notebook gains an "Open in Colab" badge and a first code cell that installs the
package from its repository when it is not importable (on Colab), and does nothing where it is installed. The
repository address is read from ``[project.urls] Repository`` in pyproject.toml, its one home.

    python colab/build_notebooks.py          # rewrite the notebooks
    python colab/build_notebooks.py --check  # exit 1 if a notebook differs from its script
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
COLAB = ROOT / "colab"
_EXAMPLE_NAME = re.compile(r"^\d\d_\w+\.py$")
_CELL_MARKER = re.compile(r"^# %%(?P<markdown> \[markdown\])?\s*$")


def repository_url() -> str:
    """The project's repository address (``https://github.com/<owner>/<repo>``) from pyproject.toml."""
    with open(ROOT / "pyproject.toml", "rb") as handle:
        project = tomllib.load(handle)["project"]
    url = project.get("urls", {}).get("Repository", "")
    if not url.startswith("https://github.com/"):
        raise ValueError(f"pyproject.toml needs [project.urls] Repository = 'https://github.com/...'. Got: {url!r}")
    return url.rstrip("/")


def example_scripts() -> list[Path]:
    """The numbered example scripts, in order."""
    return sorted(path for path in EXAMPLES.iterdir() if _EXAMPLE_NAME.match(path.name))


def split_cells(text: str) -> list[tuple[str, str]]:
    """``[(kind, source), ...]`` of a percent-format script; ``kind`` is ``"code"`` or ``"markdown"``."""
    cells: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        marker = _CELL_MARKER.match(line)
        if marker:
            cells.append(("markdown" if marker.group("markdown") else "code", []))
            continue
        if not cells:
            if line.strip():
                raise ValueError(f"text before the first '# %%' cell marker: {line!r}")
            continue
        kind, lines = cells[-1]
        if kind == "markdown":
            if line.strip() and not line.startswith("#"):
                raise ValueError(f"a markdown cell holds a line that is not a comment: {line!r}")
            line = line[2:] if line.startswith("# ") else line[1:]
        lines.append(line)
    result = []
    for kind, lines in cells:
        source = "\n".join(lines).strip("\n")
        if source:
            result.append((kind, source))
    return result


def _cell(kind: str, source: str) -> dict:
    cell = {"cell_type": kind, "metadata": {}, "source": source.splitlines(keepends=True)}
    if kind == "code":
        cell.update(execution_count=None, outputs=[])
    return cell


def install_cell(url: str) -> str:
    """The first code cell: installs the package on Colab, a no-op where it is already installed."""
    return (
        "# On Colab: install keras-optkit from its repository. Where it is installed already, nothing happens.\n"
        "import importlib.util\n"
        "\n"
        'if importlib.util.find_spec("keras_optkit") is None:\n'
        f'    %pip install -q "keras-optkit[plot,demo] @ git+{url}"'
    )


def build_notebook(script: Path, url: str) -> dict:
    """The notebook of one example script."""
    cells = split_cells(script.read_text())
    if not cells or cells[0][0] != "markdown":
        raise ValueError(f"{script.name} must open with a '# %% [markdown]' cell (its title)")
    name = script.with_suffix(".ipynb").name
    owner_repo = url.removeprefix("https://github.com/")
    badge = (
        f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
        f"(https://colab.research.google.com/github/{owner_repo}/blob/main/colab/{name})"
    )
    notebook_cells = [_cell("markdown", badge + "\n\n" + cells[0][1]), _cell("code", install_cell(url))]
    notebook_cells += [_cell(kind, source) for kind, source in cells[1:]]
    return {
        "cells": notebook_cells,
        "metadata": {
            "colab": {"provenance": []},
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def render(notebook: dict) -> str:
    """The notebook as the text committed to git (stable key order, no outputs)."""
    for index, cell in enumerate(notebook["cells"]):
        cell["id"] = f"cell-{index}"
    return json.dumps(notebook, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def expected_notebooks() -> dict[Path, str]:
    """``{notebook path: its text}`` for every example script."""
    url = repository_url()
    return {COLAB / script.with_suffix(".ipynb").name: render(build_notebook(script, url))
            for script in example_scripts()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="report stale notebooks instead of writing them")
    args = parser.parse_args(argv)
    stale = []
    for path, text in expected_notebooks().items():
        if path.exists() and path.read_text() == text:
            continue
        stale.append(path.name)
        if not args.check:
            path.write_text(text)
            print(f"wrote {path.relative_to(ROOT)}")
    if args.check and stale:
        print(f"stale notebooks (run python colab/build_notebooks.py): {', '.join(stale)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
