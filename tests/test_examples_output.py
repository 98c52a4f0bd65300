"""The example scripts write their pictures into `examples_output/` (ignored by git) unless KERAS_OPTKIT_OUT
says otherwise, never into the folder they are run from."""

import os
import re
import subprocess
import sys
from pathlib import Path

import keras
import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = sorted((ROOT / "examples").glob("[0-9][0-9]_*.py"))
_OUT_LINE = re.compile(r'^OUT = pathlib\.Path\(os\.environ\.get\("KERAS_OPTKIT_OUT", "(?P<default>[^"]*)"\)\)', re.M)


@pytest.mark.parametrize("script", SCRIPTS, ids=[path.stem for path in SCRIPTS])
def test_every_script_defaults_to_the_ignored_output_folder(script):
    text = script.read_text()
    defaults = [match.group("default") for match in _OUT_LINE.finditer(text)]
    assert defaults == ["examples_output"], f"{script.name}: the pictures' folder is chosen by {defaults}"
    # Every picture goes through OUT: no savefig to a bare file name.
    assert not re.search(r"savefig\(\s*[\"']", text), f"{script.name} saves a picture outside OUT"


def test_the_output_folder_is_ignored_by_git():
    patterns = [line.strip() for line in (ROOT / ".gitignore").read_text().splitlines()]
    assert "examples_output/" in patterns


@pytest.mark.single_backend
@pytest.mark.slow
def test_a_script_run_from_a_folder_leaves_only_examples_output_there(tmp_path):
    # The schedules gallery trains nothing: a few seconds.
    environment = {key: value for key, value in os.environ.items() if key != "KERAS_OPTKIT_OUT"}
    environment.update(KERAS_OPTKIT_QUICK="1", MPLBACKEND="Agg")
    environment.setdefault("KERAS_BACKEND", keras.backend.backend())
    completed = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "02_schedules_gallery.py")], cwd=tmp_path, env=environment,
        capture_output=True, text=True, timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["examples_output"]
    written = sorted(path.name for path in (tmp_path / "examples_output").iterdir())
    assert "schedules.png" in written and all(name.endswith(".png") for name in written)
