"""Every ```python block of README.md is a complete program that runs as written, each in its own process, from an
empty folder."""

import ast
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import keras
import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
_BLOCK = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.M | re.S)
# A generous limit for a loaded 2-core machine: most blocks take 10-30 s with TensorFlow, the Keras Tuner one ~40 s.
TIME_LIMIT_S = 600


def python_blocks(text: str) -> list[tuple[int, str]]:
    """``[(line number of the opening fence, source), ...]`` of every ```python block."""
    return [(text.count("\n", 0, match.start()) + 1, match.group(1)) for match in _BLOCK.finditer(text)]


BLOCKS = python_blocks(README.read_text())


def test_the_extractor_finds_python_blocks_only():
    text = "intro\n```python\nx = 1\n```\n\n```bash\nls\n```\n```\nplain\n```\n```python\nprint(2)\n```\n"
    assert python_blocks(text) == [(2, "x = 1\n"), (12, "print(2)\n")]


def test_the_readme_has_its_examples_and_no_placeholders():
    assert len(BLOCKS) >= 8
    first_line = BLOCKS[0][0]
    assert first_line < README.read_text().index("## Install") and first_line < 40, "the short example leads"
    for line, source in BLOCKS:
        tree = ast.parse(source, filename=f"README.md:{line}")
        placeholders = [node.lineno for node in ast.walk(tree)
                        if isinstance(node, ast.Constant) and node.value is Ellipsis]
        assert not placeholders, f"README.md:{line}: `...` stands for code at block line(s) {placeholders}"


@pytest.mark.single_backend
@pytest.mark.slow
@pytest.mark.parametrize("line,source", BLOCKS, ids=[f"line{line}" for line, _ in BLOCKS])
def test_readme_block_runs_as_written(line, source, tmp_path):
    environment = dict(os.environ, MPLBACKEND="Agg")
    environment.setdefault("KERAS_BACKEND", keras.backend.backend())
    environment.pop("PYTHONPATH", None)  # the package as installed, as a reader has it
    started = time.perf_counter()
    completed = subprocess.run(
        [sys.executable, "-"], input=source, cwd=tmp_path, env=environment, capture_output=True, text=True,
        timeout=TIME_LIMIT_S,
    )
    seconds = time.perf_counter() - started
    assert completed.returncode == 0, (
        f"README.md block at line {line} failed:\n{source}\n--- stderr ---\n{completed.stderr[-4000:]}"
    )
    if re.search(r"^\s*print\(", source, re.M):
        assert completed.stdout.strip(), f"README.md block at line {line} printed nothing"
    print(f"README.md:{line}: {seconds:.1f} s")
