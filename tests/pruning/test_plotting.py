"""Sparsity schedules in `plot_schedule` and `keras-optkit plot-schedule`."""

import numpy as np
import pytest

from keras_optkit import cli
from keras_optkit.pruning import ConstantSparsity, PolynomialDecaySparsity, list_sparsity_schedules
from keras_optkit.viz import plot_schedule
from tests.reference import pruning as reference


def test_plot_schedule_draws_the_sparsity_curve():
    figure = plot_schedule(PolynomialDecaySparsity(0.0, 0.9, begin_step=10, end_step=90), total_steps=120)
    axes = figure.axes[0]
    line = axes.get_lines()[0]
    expected = [reference.polynomial_sparsity(step, 0.0, 0.9, 10, 90) for step in range(120)]
    np.testing.assert_allclose(line.get_ydata(), expected, rtol=1e-6, atol=1e-7)
    assert line.get_label() == "PolynomialDecaySparsity" and axes.get_ylabel().startswith("sparsity")
    mixed = plot_schedule({"constant": ConstantSparsity(0.5), "a rate": 0.1}, total_steps=10)
    assert mixed.axes[0].get_ylabel() == "learning rate"


@pytest.mark.parametrize("name", [entry.name for entry in list_sparsity_schedules()])
def test_plot_schedule_command_builds_every_sparsity_schedule(name, tmp_path, capsys):
    output = tmp_path / "sparsity.png"
    assert cli.main(["plot-schedule", name, "--total-steps", "400", "-o", str(output)]) == 0
    assert output.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert name in capsys.readouterr().out


def test_plot_schedule_command_takes_sparsity_params_and_reports_bad_ones(tmp_path, capsys):
    output = tmp_path / "s.png"
    code = cli.main(["plot-schedule", "polynomial_decay_sparsity", "--param", "final_sparsity=0.8",
                     "--param", "end_step=300", "-o", str(output)])
    assert code == 0 and "final_sparsity=0.8" in capsys.readouterr().out
    assert cli.main(["plot-schedule", "ConstantSparsity", "--param", "sparsity=1.2", "-o", str(output)]) == 2
    assert "sparsity" in capsys.readouterr().err
