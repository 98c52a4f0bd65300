"""How long the `keras-optkit` command takes to answer, in wall seconds (median of --repeats runs).

`--version`, `--help` and argument errors import neither Keras nor a backend; `list` imports the whole package
(and so the backend). Run it from the checkout with the environment's console script on PATH or next to the
interpreter:

    python benchmarks/cli_startup.py --repeats 5
    KERAS_BACKEND=jax python benchmarks/cli_startup.py
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CASES = [
    ("--version", ["--version"]),
    ("--help", ["--help"]),
    ("demo --help", ["demo", "--help"]),
    ("bad option: demo --epochs 0", ["demo", "--epochs", "0"]),
    ("bad file: find-lr --csv missing.csv", ["find-lr", "--csv", "missing.csv", "--label", "y"]),
    ("list (imports Keras and the backend)", ["list"]),
]


def command() -> str:
    beside = Path(sys.executable).parent / "keras-optkit"
    found = str(beside) if beside.exists() else shutil.which("keras-optkit")
    if not found:
        raise SystemExit("no keras-optkit console script: pip install -e . first")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--skip-list", action="store_true", help="leave out `list` (seconds per run)")
    args = parser.parse_args()
    program = command()
    backend = os.environ.get("KERAS_BACKEND", "Keras's default")
    print(f"{program}, backend {backend}, {os.cpu_count()} CPUs, median of {args.repeats} runs")
    print(f"{'command':<42} {'median s':>9} {'min s':>7}  exit")
    with tempfile.TemporaryDirectory() as folder:
        for label, argv in CASES:
            if args.skip_list and argv == ["list"]:
                continue
            seconds, codes = [], set()
            for _ in range(args.repeats):
                started = time.perf_counter()
                completed = subprocess.run([program, *argv], cwd=folder, capture_output=True)
                seconds.append(time.perf_counter() - started)
                codes.add(completed.returncode)
            print(f"{label:<42} {statistics.median(seconds):>9.3f} {min(seconds):>7.3f}  {sorted(codes)}")


if __name__ == "__main__":
    main()
