"""keras-tuner's chief/worker engine: a chief and two workers on 127.0.0.1, as separate processes."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 420


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start(role, output, directory, port):
    env = dict(os.environ)
    env.pop("KERASTUNER_TUNER_ID", None)
    if role != "single":
        env.update(KERASTUNER_TUNER_ID=role, KERASTUNER_ORACLE_IP="127.0.0.1", KERASTUNER_ORACLE_PORT=str(port))
    return subprocess.Popen(
        [sys.executable, "-m", "tests.tuner.distributed_search", str(output), str(directory)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


def _finish(process, name):
    try:
        out, _ = process.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        out, _ = process.communicate()
        pytest.fail(f"{name} did not finish in {TIMEOUT} s:\n{out[-3000:]}")
    assert process.returncode == 0, f"{name} failed:\n{out[-3000:]}"


@pytest.mark.slow
@pytest.mark.single_backend  # keras-tuner's gRPC oracle: nothing of it depends on the backend
def test_chief_and_two_workers_share_one_search(tmp_path):
    port = _free_port()
    shared = tmp_path / "shared_project"
    outputs = {role: tmp_path / f"{role}.json" for role in ("chief", "tuner0", "tuner1")}
    processes = {role: _start(role, outputs[role], shared, port) for role in outputs}
    for role in ("tuner0", "tuner1", "chief"):
        _finish(processes[role], role)
    records = {role: json.loads(path.read_text()) for role, path in outputs.items()}

    chief = records["chief"]
    assert chief["fits"] == 0  # the chief serves the oracle, it trains nothing
    worker_fits = [records["tuner0"]["fits"], records["tuner1"]["fits"]]
    # Every trial ran exactly once, on one of the workers (the workers' "overwrite" did not wipe the shared
    # project).
    assert sum(worker_fits) == len(chief["trials"]) == 4
    assert all(t["status"] == "COMPLETED" for t in chief["trials"])

    # The same search as one process with the same seed: same trials, same scores.
    single_output = tmp_path / "single.json"
    single = _start("single", single_output, tmp_path / "single_project", port)
    _finish(single, "single")
    alone = json.loads(single_output.read_text())

    def by_values(trials):
        return {json.dumps(t["values"], sort_keys=True): t["score"] for t in trials}

    distributed, reference = by_values(chief["trials"]), by_values(alone["trials"])
    assert distributed.keys() == reference.keys()
    for key, score in reference.items():
        assert distributed[key] == pytest.approx(score, rel=1e-4)
