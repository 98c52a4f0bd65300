"""The `keras-optkit` command, the demo, and `plot_schedule`."""

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
    assert "demo" in out and "plot-schedule" in out and "list" in out


def test_demo_trains_digits_and_writes_its_plot(tmp_path):
    from keras_optkit.demo import run_demo

    lines = []
    result = run_demo(out=str(tmp_path), epochs=3, printer=lines.append)
    assert [row["epoch"] for row in result.rows] == [1, 2, 3]
    assert result.final_val_accuracy > 0.85
    assert result.rows[-1]["loss"] < result.rows[0]["loss"]
    assert (tmp_path / "schedule.png").read_bytes()[:4] == b"\x89PNG"
    assert any("learning rate" in line for line in lines)
    assert len([line for line in lines if line.strip()[:1].isdigit()]) == 3


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
