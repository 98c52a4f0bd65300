"""`keras-optkit find-lr`: what it refuses before training (bad CSV files, optimizers and output paths), and a
range test that measured nothing usable."""

import os

import keras
import numpy as np
import pytest

import keras_optkit
import keras_optkit.callbacks
from keras_optkit import _find_lr_command, cli

QUICK = ["--num-steps", "6", "--hidden", "4", "--batch-size", "8"]


def _find_lr(capsys, *argv):
    code = cli.main(["find-lr", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def _rows(count, seed=0):
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(count, 2))
    return [f"{a:.4f},{b:.4f},{int(a > 0)}" for a, b in features]


@pytest.fixture
def no_training(monkeypatch):
    """Fails the test if the range test starts."""

    def must_not_train(*args, **kwargs):
        raise AssertionError("the range test started")

    monkeypatch.setattr(keras_optkit.callbacks, "find_lr", must_not_train)


def test_a_label_only_csv_is_refused(tmp_path, capsys, no_training):
    path = tmp_path / "label_only.csv"
    path.write_text("y\n0\n1\n0\n1\n")
    code, _, err = _find_lr(capsys, "--csv", str(path), "--label", "y", "-o", "")
    assert code == 2
    assert err.startswith("keras-optkit find-lr: error: --csv: no feature columns") and len(err.splitlines()) == 1


def test_blank_lines_are_skipped_and_lines_are_counted_in_the_file(tmp_path, capsys):
    rows = _rows(24)
    path = tmp_path / "blank.csv"
    path.write_text("a,b,y\n\n" + "\n".join(rows[:12]) + "\n  \n" + "\n".join(rows[12:]) + "\n\n")
    code, out, err = _find_lr(capsys, "--csv", str(path), "--label", "y", "-o", "", *QUICK)
    assert code == 0, err
    assert "24 rows, 2 standardized features, classification" in out
    # Line 1 header, line 2 blank, line 3 the first row: the gap is reported at its line in the file.
    gaps = tmp_path / "gaps.csv"
    gaps.write_text("a,b,y\n\n1,2,0\nnan,3,1\n")
    code, _, err = _find_lr(capsys, "--csv", str(gaps), "--label", "y", "-o", "")
    assert code == 2 and "non-finite values (nan, inf) on lines [4]" in err
    header_only = tmp_path / "header_only.csv"
    header_only.write_text("a,b,y\n\n")
    code, _, err = _find_lr(capsys, "--csv", str(header_only), "--label", "y", "-o", "")
    assert code == 2 and "--csv: the file needs a header row and at least one data row" in err


def test_a_row_of_the_wrong_length_is_refused_naming_its_line(tmp_path, capsys, no_training):
    path = tmp_path / "ragged.csv"
    path.write_text("a,b,y\n1,2,0\n\n3,1\n")
    code, _, err = _find_lr(capsys, "--csv", str(path), "--label", "y", "-o", "")
    assert code == 2 and "--csv: line 4 has 2 values but the header names 3 columns" in err


@pytest.mark.parametrize("wrapper", ["MultiOptimizer", "LossScaleOptimizer", "multi_optimizer"])
def test_keras_wrapper_optimizers_are_refused_listing_what_is_accepted(wrapper, capsys, no_training):
    code, _, err = _find_lr(capsys, "--optimizer", wrapper, "-o", "")
    assert code == 2 and len(err.splitlines()) == 1
    assert f"--optimizer: {wrapper.replace('_', '').lower()}" in err.lower() and "needs arguments" in err
    accepted = err.split("Accepted:")[1]
    for name in ("Adam", "SGD", keras_optkit.list_entries("optimizer")[0].name):
        assert name in accepted
    assert "MultiOptimizer" not in accepted and "LossScaleOptimizer" not in accepted


def test_every_optimizer_the_message_accepts_can_be_built():
    names = [entry.name for entry in keras_optkit.list_entries("optimizer")]
    names += sorted(_find_lr_command.keras_optimizer_classes())
    for name in names:
        assert isinstance(_find_lr_command.resolve_optimizer(name), keras.optimizers.Optimizer), name


def test_keras_optimizers_missing_from_keras_optimizers_get_are_accepted(tmp_path, capsys):
    path = tmp_path / "data.csv"
    path.write_text("a,b,y\n" + "\n".join(_rows(24)) + "\n")
    code, out, err = _find_lr(capsys, "--csv", str(path), "--label", "y", "--optimizer", "lamb", "-o", "", *QUICK)
    assert code == 0, err
    assert "Lamb" in out and "valley" in out


def test_an_output_that_cannot_be_written_is_refused_before_training(tmp_path, capsys, no_training):
    a_file = tmp_path / "a_file"
    a_file.write_text("")
    for output in (a_file / "finder.png", tmp_path / "missing" / "finder.png", tmp_path):
        # --out: argparse's abbreviation of --output.
        code, _, err = _find_lr(capsys, "--out", str(output))
        assert code == 2 and err.startswith("keras-optkit find-lr: error: --output") and str(output) in err


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes in a read-only folder")
def test_an_output_in_a_read_only_folder_is_refused_before_training(tmp_path, capsys, no_training):
    folder = tmp_path / "read_only"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        code, _, err = _find_lr(capsys, "-o", str(folder / "finder.png"))
    finally:
        folder.chmod(0o700)
    assert code == 2 and "--output: cannot write" in err


def test_values_that_overflow_float32_are_refused_naming_their_lines(tmp_path, capsys, no_training):
    too_large = float(np.finfo("float32").max) * 10.0  # finite in float64, inf in float32
    path = tmp_path / "overflow.csv"
    path.write_text(f"a,b,y\n1,2,0\n\n{too_large!r},3,1\n4,5,0\n6,7,{too_large!r}\n")
    code, _, err = _find_lr(capsys, "--csv", str(path), "--label", "y", "-o", "")
    assert code == 2 and "float32" in err and "on lines [4, 6]" in err


def test_a_range_test_with_no_finite_loss_fails_instead_of_suggesting_nan(tmp_path, capsys):
    # Every target fits in float32, its square does not: the mean squared error is inf from the first step.
    rng = np.random.default_rng(0)
    target = np.sqrt(float(np.finfo("float32").max)) * 10.0
    path = tmp_path / "huge_target.csv"
    path.write_text("a,b,y\n" + "\n".join(f"{a:.4f},{b:.4f},{target * (1 + a * a):.6e}"
                                            for a, b in rng.normal(size=(24, 2))) + "\n")
    output = tmp_path / "finder.png"
    code, out, err = _find_lr(capsys, "--csv", str(path), "--label", "y", "-o", str(output), *QUICK)
    assert "regression" in out
    assert code == 2 and "non-finite" in err and len(err.splitlines()) == 1
    assert "valley" not in out and "nan" not in out and not output.exists()


def test_infer_task_makes_a_classifier_for_labels_below_100_only():
    assert _find_lr_command.infer_task(np.array([0.0, 3.0, 99.0]), "auto") == "classification"
    # Non-negative integers, few of them, but 1001 outputs for a classifier: a regression.
    assert _find_lr_command.infer_task(np.array([0.0, 1000.0, 1000.0]), "auto") == "regression"
