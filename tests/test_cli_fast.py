"""The `keras-optkit` command answers --help, --version and bad arguments without importing Keras or a backend,
starts Keras without TensorFlow's start-up log lines, and plots Keras's own schedules."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest

import keras_optkit
from keras_optkit import _launch, cli
from tests.reference.keras_piecewise import piecewise_constant
from tests.reference.schedules import keras_cosine_decay, keras_exponential_decay

HEAVY = ("keras", "tensorflow", "jax", "torch", "keras_tuner", "sklearn", "matplotlib")

# As pip's console script runs it: the program is `.../bin/keras-optkit`, which imports keras_optkit.cli.
_AS_THE_COMMAND = textwrap.dedent(
    """
    import sys
    sys.argv[0] = "/opt/env/bin/keras-optkit"
    from keras_optkit.cli import main
    try:
        code = main(sys.argv[1:])
    except SystemExit as exit:
        code = exit.code
    print("IMPORTED=" + ",".join(m for m in {heavy!r} if m in sys.modules), file=sys.stderr)
    sys.exit(code)
    """
).format(heavy=HEAVY)


def _run_as_the_command(*argv, cwd):
    completed = subprocess.run(
        [sys.executable, "-c", _AS_THE_COMMAND, *argv], capture_output=True, text=True, timeout=120, cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
    )
    *err, imported = completed.stderr.rstrip("\n").splitlines() or [""]
    assert imported.startswith("IMPORTED="), completed.stderr
    return completed.returncode, completed.stdout, "\n".join(err), imported.removeprefix("IMPORTED=")


@pytest.mark.parametrize(
    "argv,code,expected",
    [
        (["--version"], 0, f"keras-optkit {keras_optkit.__version__} (Keras {keras.__version__}"),
        (["--help"], 0, "plot-schedule"),
        (["plot-schedule", "--help"], 0, "CosineDecay"),
        ([], 0, "Commands:"),
        (["no-such-command"], 2, "invalid choice: 'no-such-command'"),
        (["demo", "--epochs", "0"], 2, "--epochs: must be an integer >= 1. Received: '0'"),
        (["plot-schedule", "OneCycle", "--total-steps", "-3"], 2, "--total-steps: must be an integer >= 1"),
        (["plot-schedule", "OneCycle", "--param", "oops"], 2, "--param must look like name=value"),
        (["find-lr", "--label", "y"], 2, "find-lr: error: --label needs --csv. Received: --label 'y'"),
        (["find-lr", "--csv", "missing.csv", "--label", "y", "-o", ""], 2, "--csv: no such file"),
        (["plot-schedule", "OneCycle", "-o", "no/such/folder/lr.png"], 2, "--output: the folder"),
    ],
)
def test_answers_without_importing_keras(argv, code, expected, tmp_path):
    returncode, out, err, imported = _run_as_the_command(*argv, cwd=tmp_path)
    assert returncode == code, (out, err)
    assert expected in out + err
    assert imported == "", f"`keras-optkit {' '.join(argv)}` imported {imported}"


def test_a_bad_demo_folder_is_refused_without_importing_keras(tmp_path):
    a_file = tmp_path / "a_file"
    a_file.write_text("")
    returncode, _, err, imported = _run_as_the_command("demo", "--out", str(a_file), cwd=tmp_path)
    assert returncode == 2 and "--out: not a folder" in err and str(a_file) in err
    assert imported == ""


def test_the_installed_console_script_prints_the_version(tmp_path):
    script = Path(sys.executable).parent / "keras-optkit"
    if not script.exists():
        pytest.skip(f"no console script next to {sys.executable} (package not pip-installed)")
    completed = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.startswith(f"keras-optkit {keras_optkit.__version__} (Keras ")
    assert completed.stderr == ""


def test_the_package_knows_when_the_command_imports_it(monkeypatch):
    for program, expected in [
        ("/usr/bin/keras-optkit", True), (r"C:\env\Scripts\keras-optkit.exe", True),
        ("keras-optkit-script.py", True), ("/usr/bin/pytest", False), ("ipykernel_launcher.py", False),
        ("keras-optkit-demo", False), ("", False),
    ]:
        monkeypatch.setattr(sys, "argv", [program])
        assert _launch.imported_by_the_command() is expected, program


def test_public_names_are_imported_on_first_use_in_the_commands_mode():
    assert _launch.public_attribute("schedules") is keras_optkit.schedules
    assert _launch.public_attribute("get_entry") is keras_optkit.get_entry
    for missing in ("_registry", "no_such_name", "keras"):
        with pytest.raises(AttributeError, match=missing):
            _launch.public_attribute(missing)


STARTUP_SAMPLE = [
    # What TensorFlow 2.21 printed on a CPU-only machine while `keras-optkit list` started.
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    "I0000 00:00:1796276211.244166    7455 port.cc:153] oneDNN custom operations are on. You may see slightly "
    "different numerical results due to floating-point round-off errors from different computation orders.",
    "I0000 00:00:1796276211.244552    7455 cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU will "
    "not be used.",
    "E0000 00:00:1796276356.355712    8816 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error: Failed "
    "call to cuInit: UNKNOWN ERROR (303)",
    "To enable the following instructions: AVX2 AVX512F AVX512_VNNI AVX512_BF16 FMA, in other operations, rebuild "
    "TensorFlow with the appropriate compiler flags.",
]
KEPT_SAMPLE = [
    "UserWarning: something the user should see",
    "F0000 00:00:1796276356.355712    8816 main.cc:1] a fatal error",
    "Traceback (most recent call last):",
]


def test_startup_lines_are_dropped_and_other_lines_kept(capfd):
    with cli._startup_lines_dropped():
        os.write(2, "\n".join(STARTUP_SAMPLE[:2] + KEPT_SAMPLE[:1] + STARTUP_SAMPLE[2:] + KEPT_SAMPLE[1:]).encode())
        os.write(2, b"\n")
        print("to stdout")
    out, err = capfd.readouterr()
    assert out == "to stdout\n"
    assert err.splitlines() == KEPT_SAMPLE


def test_every_line_is_shown_when_starting_fails(capfd):
    with pytest.raises(RuntimeError, match="no backend"):
        with cli._startup_lines_dropped():
            os.write(2, ("\n".join(STARTUP_SAMPLE) + "\n").encode())
            raise RuntimeError("no backend")
    assert capfd.readouterr().err.splitlines() == STARTUP_SAMPLE


@pytest.mark.slow
def test_list_prints_no_startup_lines(tmp_path):
    environment = {key: value for key, value in os.environ.items() if key != "TF_CPP_MIN_LOG_LEVEL"}
    environment.setdefault("KERAS_BACKEND", keras.backend.backend())
    environment["PYTHONPATH"] = str(Path(__file__).resolve().parent.parent)
    completed = subprocess.run(
        [sys.executable, "-c", _AS_THE_COMMAND, "list"], capture_output=True, text=True, timeout=300, cwd=tmp_path,
        env=environment,
    )
    assert completed.returncode == 0, completed.stderr
    assert f"schedules ({len(keras_optkit.list_entries('schedule'))}):" in completed.stdout
    lines = completed.stderr.splitlines()
    assert lines[-1].startswith("IMPORTED=") and "keras" in lines[-1]
    leftover = [line for line in lines[:-1] if line.strip()]
    assert not any(cli._STARTUP_LINE.fullmatch(line) for line in leftover), leftover
    assert not any("cuInit" in line or "absl::InitializeLog" in line for line in leftover), leftover


@pytest.fixture
def drawn(monkeypatch):
    """The (steps, rates) the command drew, taken from the figure it saved."""
    import keras_optkit.viz

    figures = []
    original = keras_optkit.viz.plot_schedule

    def keep(*args, **kwargs):
        figures.append(original(*args, **kwargs))
        return figures[-1]

    monkeypatch.setattr(keras_optkit.viz, "plot_schedule", keep)

    def lines():
        (figure,) = figures
        (line,) = figure.axes[0].get_lines()
        return line.get_label(), np.asarray(line.get_xdata()), np.asarray(line.get_ydata(), dtype=np.float64)

    return lines


@pytest.mark.parametrize(
    "argv,name,reference",
    [
        (["CosineDecay", "--total-steps", "300", "--param", "decay_steps=200", "--param", "alpha=0.1",
          "--param", "warmup_steps=50", "--param", "warmup_target=0.4"], "CosineDecay",
         lambda step: keras_cosine_decay(step, 0.1, 200, alpha=0.1, warmup_target=0.4, warmup_steps=50)),
        (["exponential_decay", "--total-steps", "120", "--param", "decay_rate=0.5", "--param", "staircase=True"],
         "ExponentialDecay", lambda step: keras_exponential_decay(step, 0.1, 12, 0.5, staircase=True)),
        (["PiecewiseConstantDecay", "--total-steps", "40", "--param", "boundaries=[5, 17]",
          "--param", "values=[1.0, 0.5, 0.25]"], "PiecewiseConstantDecay",
         lambda step: piecewise_constant([step], [5, 17], [1.0, 0.5, 0.25])[0]),
    ],
    ids=["CosineDecay", "ExponentialDecay", "PiecewiseConstantDecay"],
)
def test_plot_schedule_draws_keras_schedules(argv, name, reference, drawn, tmp_path, capsys):
    output = tmp_path / "lr.png"
    assert cli.main(["plot-schedule", *argv, "-o", str(output)]) == 0
    assert output.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert capsys.readouterr().out.startswith(f"Wrote {output} ({name}(")
    label, steps, rates = drawn()
    total = int(argv[argv.index("--total-steps") + 1])
    assert label == name and steps.tolist() == list(range(total))
    np.testing.assert_allclose(rates, [reference(step) for step in range(total)], rtol=1e-5, atol=1e-9)


@pytest.mark.parametrize("name", list(cli.KERAS_SCHEDULE_EXAMPLES))
def test_every_keras_schedule_plots_from_its_example_arguments(name, tmp_path):
    output = tmp_path / f"{name}.png"
    assert cli.main(["plot-schedule", name, "--total-steps", "50", "-o", str(output)]) == 0
    assert output.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("argv,message", [
    (["CosineDecay", "--param", "warmup=3"], "CosineDecay has no argument warmup. Arguments: initial_learning_rate"),
    (["NoSuchSchedule"], "Keras's CosineDecay, CosineDecayRestarts"),
    (["ExponentialDecay", "--param", "decay_rate=-0.5"], "ExponentialDecay gives non-finite rates"),
    (["PiecewiseConstantDecay", "--param", "values=[0.1]"], "PiecewiseConstantDecay: The length of boundaries"),
])
def test_plot_schedule_refuses_bad_keras_schedules(argv, message, tmp_path, capsys):
    assert cli.main(["plot-schedule", *argv, "-o", str(tmp_path / "lr.png")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("keras-optkit plot-schedule: error: ") and message in err
    assert not (tmp_path / "lr.png").exists()
