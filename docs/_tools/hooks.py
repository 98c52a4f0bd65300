"""MkDocs hooks for the documentation site.

The Colab notebooks live in ``colab/`` (built there from ``examples/`` by ``colab/build_notebooks.py``), outside the
docs folder: these hooks add each of them to the site under the same path, ``colab/<name>.ipynb``, before
mkdocs-jupyter turns notebooks into pages, so the site shows the notebooks the repository holds without a copy to
keep in step; and a notebook that the nav's "Notebooks" section does not name yet is appended to it.
"""

from __future__ import annotations

import re
from pathlib import Path

from mkdocs.plugins import event_priority
from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[2]
NAV_SECTION = "Notebooks"


def _notebooks() -> list[str]:
    return [notebook.relative_to(ROOT).as_posix() for notebook in sorted((ROOT / "colab").glob("*.ipynb"))]


def _title(path: str) -> str:
    """``colab/07_pruning.ipynb`` -> ``Pruning``."""
    words = re.sub(r"^\d+_", "", Path(path).stem).replace("_", " ")
    return words[:1].upper() + words[1:]


def on_config(config):
    for section in config["nav"] or []:
        if isinstance(section, dict) and isinstance(section.get(NAV_SECTION), list):
            entries = section[NAV_SECTION]
            named = {next(iter(entry.values())) if isinstance(entry, dict) else entry for entry in entries}
            entries.extend({_title(path): path} for path in _notebooks() if path not in named)
    return config


@event_priority(100)  # before mkdocs-jupyter's on_files, which wraps every .ipynb file it is given
def on_files(files: Files, config) -> Files:
    # The benchmarks page shows benchmarks/README.md, whose pictures sit next to it in benchmarks/results/.
    for picture in sorted((ROOT / "benchmarks" / "results").glob("*.png")):
        files.append(File(picture.relative_to(ROOT).as_posix(), src_dir=str(ROOT), dest_dir=config["site_dir"],
                          use_directory_urls=config["use_directory_urls"]))
    for path in _notebooks():
        # A file read from the repository root (not a generated one): mkdocs-jupyter's wrapper reads the source
        # path from `src_dir`.
        files.append(File(path, src_dir=str(ROOT), dest_dir=config["site_dir"],
                          use_directory_urls=config["use_directory_urls"]))
    return files


def on_page_markdown(markdown: str, page, config, files) -> str:
    # The benchmarks page includes benchmarks/README.md here (not through the snippet extension, which runs later),
    # with its pictures' links (results/<name>.png, next to it) pointed at where the site has them.
    include = '--8<-- "benchmarks/README.md"'
    if page.file.src_uri == "benchmarks.md" and include in markdown:
        text = (ROOT / "benchmarks" / "README.md").read_text()
        return markdown.replace(include, text.replace("](results/", "](benchmarks/results/"))
    return markdown
