"""The `keras-optkit` command, the demo, and `plot_schedule`."""

import re

import numpy as np
import pytest

import keras_optkit
from keras_optkit import cli
from keras_optkit.schedules import OneCycle, WarmupCosineDecay, list_schedules, schedule_values
from keras_optkit.viz import plot_schedule


def test_list_names_every_registered_object(capsys):
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    for kind in keras_optkit._registry.KINDS:
        for entry in keras_optkit.list_entries(kind):
            assert entry.name in out and entry.description in out


@pytest.mark.parametrize("name", [entry.name for entry in list_schedules()])
def test_plot_schedule_command_builds_every_registered_schedule(name, tmp_path):
    output = tmp_path / "lr.png"
    assert cli.main(["plot-schedule", name, "--total-steps", "300", "-o", str(output)]) == 0
    assert output.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_schedule_command_applies_params_and_total_steps(tmp_path, capsys):
    output = tmp_path / "lr.png"
    code = cli.main(["plot-schedule", "one_cycle", "--total-steps", "500", "--param", "max_learning_rate=0.3",
                     "--param", "anneal_strategy=linear", "--log", "-o", str(output)])
    assert code == 0
    out = capsys.readouterr().out
    assert "max_learning_rate=0.3" in out and "total_steps=500" in out and "anneal_strategy='linear'" in out


@pytest.mark.parametrize("argv,message", [
    (["plot-schedule", "NoSuchSchedule"], "Unknown schedule name"),
    (["plot-schedule", "OneCycle", "--param", "warmup=3"], "has no argument warmup"),
    (["plot-schedule", "OneCycle", "--param", "max_learning_rate=-1"], "max_learning_rate"),
])
def test_plot_schedule_command_reports_bad_input(argv, message, capsys):
    assert cli.main(argv) == 2
    assert message in capsys.readouterr().err


def test_help_lists_the_commands(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = capsys.readouterr().out
    for command in ("demo", "list", "plot-schedule", "find-lr"):
        assert command in out
    with pytest.raises(SystemExit):
        cli.main(["find-lr", "--help"])
    assert "--csv" in capsys.readouterr().out


def test_demo_runs_the_range_test_then_one_cycle_against_adam(tmp_path):
    from keras_optkit.demo import run_demo

    lines = []
    result = run_demo(out=str(tmp_path), epochs=3, finder_steps=60, printer=lines.append)
    assert [row["epoch"] for row in result.rows] == [1, 2, 3]
    # The suggestion comes from the range test (1e-7 .. 10) and is OneCycle's peak.
    assert 1e-7 < result.suggested_learning_rate < 10
    steps_per_epoch = -(-1437 // 32)
    schedule = OneCycle(result.suggested_learning_rate, total_steps=3 * steps_per_epoch)
    for row in result.rows:
        assert row["learning_rate"] == pytest.approx(float(schedule(row["epoch"] * steps_per_epoch - 1)), rel=1e-5)
        assert row["learning_rate"] <= result.suggested_learning_rate * (1 + 1e-6)
    for run in ("one_cycle", "adam"):
        assert result.rows[-1][f"{run}_loss"] < result.rows[0][f"{run}_loss"]
        assert result.rows[-1][f"{run}_val_accuracy"] > 0.8
    assert result.one_cycle_val_accuracy == result.rows[-1]["one_cycle_val_accuracy"]
    for name in ("schedule.png", "lr_finder.png", "training_curves.png"):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"
    assert "valley" in result.lr_finder_summary
    table = [line for line in lines if re.match(r"^\s+\d+\s+\d\.\d\de[-+]\d\d\s", line)]
    assert len(table) == 3 and any("OneCycle" in line and "Adam(1e-3)" in line for line in lines)


def _write_csv(path, header, rows):
    path.write_text(",".join(header) + "\n" + "\n".join(",".join(f"{v:g}" for v in row) for row in rows) + "\n")


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_find_lr_command_on_a_csv_file(task, tmp_path, capsys):
    rng = np.random.default_rng(0)
    features = rng.normal(size=(200, 3))
    target = (features[:, 0] > 0).astype(int) if task == "classification" else features @ [1.0, -2.0, 0.5]
    csv_path = tmp_path / "data.csv"
    _write_csv(csv_path, ["a", "b", "target", "c"], np.column_stack([features[:, :2], target, features[:, 2]]))
    output = tmp_path / "finder.png"
    argv = ["find-lr", "--csv", str(csv_path), "--label", "target", "--num-steps", "30", "-o", str(output)]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert f"200 rows, 3 standardized features, {task}" in out
    assert "valley" in out and output.read_bytes()[:4] == b"\x89PNG"


def test_find_lr_command_on_digits_with_a_package_optimizer(tmp_path, capsys):
    argv = ["find-lr", "--optimizer", "RAdam", "--num-steps", "20", "-o", ""]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "digits: 1797 rows, 64 standardized features, classification" in out and "RAdam" in out


@pytest.mark.parametrize("make_argv,message", [
    (lambda d: ["find-lr", "--csv", str(d / "missing.csv"), "--label", "y"], "--csv: no such file"),
    (lambda d: ["find-lr", "--csv", str(d / "data.csv"), "--label", "nope"], "--label: no column 'nope'"),
    (lambda d: ["find-lr", "--csv", str(d / "data.csv")], "--csv needs --label"),
    (lambda d: ["find-lr", "--label", "y"], "--label needs --csv"),
    (lambda d: ["find-lr", "--csv", str(d / "text.csv"), "--label", "y"], "every value must be a number"),
    (lambda d: ["find-lr", "--optimizer", "NoSuchOptimizer"], "--optimizer"),
    (lambda d: ["find-lr", "--csv", str(d / "gaps.csv"), "--label", "y"], "non-finite values (nan, inf) on lines [3]"),
])
def test_find_lr_command_reports_bad_input(make_argv, message, tmp_path, capsys):
    _write_csv(tmp_path / "data.csv", ["x", "y"], [[1, 0], [2, 1]])
    (tmp_path / "text.csv").write_text("x,y\n1,cat\n")
    (tmp_path / "gaps.csv").write_text("x,y\n1,0\nnan,1\n")
    assert cli.main(make_argv(tmp_path)) == 2
    assert message in capsys.readouterr().err


def test_plot_schedule_draws_the_values_with_labels():
    one_cycle, cosine = OneCycle(0.1, 200), WarmupCosineDecay(0.05, 200, 20)
    figure = plot_schedule([one_cycle, cosine], total_steps=200, log=True)
    lines = figure.axes[0].get_lines()
    assert [line.get_label() for line in lines] == ["OneCycle", "WarmupCosineDecay"]
    np.testing.assert_array_equal(lines[0].get_ydata(), schedule_values(one_cycle, 200))
    assert figure.axes[0].get_yscale() == "log"


def test_plot_schedule_uses_given_axes_and_mapping_labels():
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots()
    assert plot_schedule({"mine": 0.01}, 10, ax=axes) is figure
    assert axes.get_lines()[0].get_label() == "mine"


@pytest.mark.parametrize("bad", [0, -5, 2.5, True])
def test_plot_schedule_rejects_bad_total_steps(bad):
    with pytest.raises(ValueError, match="total_steps"):
        plot_schedule(OneCycle(0.1, 100), bad)


def test_schedule_values_accepts_foreign_schedules_and_rejects_negative_counts():
    import keras

    decay = keras.optimizers.schedules.PiecewiseConstantDecay([5], [0.1, 0.01])
    np.testing.assert_allclose(schedule_values(decay, 8), [0.1] * 6 + [0.01] * 2, rtol=1e-7)
    with pytest.raises(ValueError, match="steps"):
        schedule_values(decay, -1)


def test_schedule_values_of_a_keras_warmup_schedule_that_branches_on_its_step():
    import keras

    # Keras's warmup uses ops.cond, which takes a scalar step only.
    decay = keras.optimizers.schedules.CosineDecay(0.0, decay_steps=200, warmup_target=0.1, warmup_steps=50)
    steps = np.arange(300)
    expected = np.where(
        steps < 50, 0.1 * steps / 50, 0.1 * 0.5 * (1 + np.cos(np.pi * np.minimum(steps - 50, 200) / 200))
    )
    np.testing.assert_allclose(schedule_values(decay, 300), expected, rtol=2e-5, atol=1e-9)


def test_schedule_values_falls_back_when_a_vectorized_call_broadcasts_wrongly():
    import keras
    from keras import ops

    class HalvingAtBoundaries(keras.optimizers.schedules.LearningRateSchedule):
        # Written for a scalar step: given a vector, the sum runs over every step, and the result has the
        # vector's shape with every value wrong.
        def __call__(self, step):
            step = ops.cast(ops.convert_to_tensor(step), "float32")
            passed = ops.sum(ops.cast(step[..., None] >= ops.array([4.0, 8.0]), "float32"))
            return 0.8 * 0.5 ** passed + 0.0 * step

    np.testing.assert_allclose(schedule_values(HalvingAtBoundaries(), 12), [0.8] * 4 + [0.4] * 4 + [0.2] * 4)


def test_plot_tuning_result_draws_every_scored_trial_by_schedule_and_optimizer():
    from types import SimpleNamespace

    from keras_optkit.viz.plot_tuning import plot_tuning_result

    rows = [
        {"score": 0.9, "learning_rate": 1e-3, "l2": 0.0, "schedule": "constant", "optimizer": "adam"},
        {"score": 0.95, "learning_rate": 3e-2, "l2": 1e-4, "schedule": "one_cycle", "optimizer": "sgd"},
        {"score": 0.8, "learning_rate": 1e-1, "l2": 3e-3, "schedule": "constant", "optimizer": "sgd"},
        {"score": None, "learning_rate": 5e-1, "l2": 0.0, "schedule": "constant", "optimizer": "adam"},  # failed
    ]
    result = SimpleNamespace(table=lambda: rows, objective=SimpleNamespace(name="val_accuracy"))
    rate_axes, l2_axes = plot_tuning_result(result)
    points = [collection.get_offsets()[0].tolist() for collection in rate_axes.collections]
    assert points == [[1e-3, 0.9], [3e-2, 0.95], [1e-1, 0.8]]
    # No L2 is drawn at a third of the smallest positive strength.
    assert [c.get_offsets()[0][0] for c in l2_axes.collections] == pytest.approx([1e-4 / 3, 1e-4, 3e-3])
    colours = [tuple(c.get_facecolor()[0]) for c in rate_axes.collections]
    assert colours[0] == colours[2] != colours[1]  # colour = schedule
    paths = [c.get_paths()[0].vertices.tolist() for c in rate_axes.collections]
    assert paths[1] == paths[2] != paths[0]  # marker = optimizer
    assert [t.get_text() for t in rate_axes.get_legend().get_texts()] == ["constant", "one_cycle"]
    assert [t.get_text() for t in l2_axes.get_legend().get_texts()] == ["adam", "sgd"]
    assert rate_axes.get_ylabel() == "val_accuracy"


def test_demo_and_plot_schedule_refuse_an_unwritable_output_before_any_work(tmp_path, capsys, monkeypatch):
    import keras_optkit.demo

    def must_not_run(**kwargs):
        raise AssertionError("the demo started")

    monkeypatch.setattr(keras_optkit.demo, "run_demo", must_not_run)
    a_file = tmp_path / "a_file"
    a_file.write_text("")
    for out in (a_file, a_file / "pictures"):
        assert cli.main(["demo", "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("keras-optkit demo: error: --out") and str(out) in err and len(err.splitlines()) == 1
    assert cli.main(["plot-schedule", "OneCycle", "-o", str(a_file / "lr.png")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("keras-optkit plot-schedule: error: --output") and str(a_file / "lr.png") in err
