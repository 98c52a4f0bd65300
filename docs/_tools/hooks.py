"""MkDocs hooks for the documentation site.

The Colab notebooks live in ``colab/`` (built there from ``examples/`` by ``colab/build_notebooks.py``), outside the
docs folder: this adds each of them to the site under the same path, ``colab/<name>.ipynb``, before mkdocs-jupyter
turns notebooks into pages, so the site shows the notebooks the repository holds without a copy to keep in step.
"""

from __future__ import annotations

from pathlib import Path

from mkdocs.plugins import event_priority
from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[2]


@event_priority(100)  # before mkdocs-jupyter's on_files, which wraps every .ipynb file it is given
def on_files(files: Files, config) -> Files:
    for notebook in sorted((ROOT / "colab").glob("*.ipynb")):
        # A file read from the repository root (not a generated one): mkdocs-jupyter's wrapper reads the source
        # path from `src_dir`.
        files.append(File(notebook.relative_to(ROOT).as_posix(), src_dir=str(ROOT), dest_dir=config["site_dir"],
                          use_directory_urls=config["use_directory_urls"]))
    return files
