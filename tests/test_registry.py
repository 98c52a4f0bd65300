"""The registry and the shared argument checks."""

import keras
import pytest

import keras_optkit
from keras_optkit import _validation as check
from keras_optkit._registry import KINDS, get_entry, list_entries, register
from keras_optkit.schedules import list_schedules


def test_every_public_schedule_is_registered_and_serializable():
    names = {entry.name for entry in list_schedules()}
    public = set(keras_optkit.schedules.__all__) - {"list_schedules", "schedule_values"}
    assert names == public
    for entry in list_schedules():
        assert keras.saving.get_registered_name(entry.cls) == f"keras_optkit>{entry.name}"
        assert entry.description and "\n" not in entry.description


def test_entries_are_sorted_and_found_by_any_spelling():
    for kind in KINDS:
        names = [entry.name for entry in list_entries(kind)]
        assert names == sorted(names)
    assert get_entry("schedule", "warmup_cosine_decay").name == "WarmupCosineDecay"
    assert get_entry("schedule", "ONECYCLE").name == "OneCycle"
    with pytest.raises(ValueError, match="Unknown schedule"):
        get_entry("schedule", "nope")
    with pytest.raises(ValueError, match="kind"):
        list_entries("layer")


def test_register_refuses_duplicates_and_bad_descriptions():
    with pytest.raises(ValueError, match="already registered"):
        register("schedule", "again")(type("OneCycle", (), {}))
    with pytest.raises(ValueError, match="description"):
        register("schedule", "two\nlines")
    with pytest.raises(ValueError, match="kind"):
        register("metric", "x")


def test_build_gives_fresh_instances_with_overrides():
    entry = get_entry("schedule", "OneCycle")
    first, second = entry.build(), entry.build(total_steps=50)
    assert first is not second and second.total_steps == 50 and first.total_steps == entry.example["total_steps"]


@pytest.mark.parametrize("call,error,text", [
    (lambda: check.check_in_range("beta_1", 1.5, 0, 1), ValueError, "`beta_1` must be in [0, 1). Received: beta_1=1.5"),
    (lambda: check.check_positive("epsilon", 0), ValueError, "`epsilon` must be > 0. Received: epsilon=0"),
    (lambda: check.check_number("lr", True), TypeError, "`lr` must be a real number"),
    (lambda: check.check_number("lr", float("inf")), ValueError, "`lr` must be finite"),
    (lambda: check.check_int("steps", 2.5), TypeError, "`steps` must be an integer"),
    (lambda: check.check_int("steps", -1, minimum=0), ValueError, "`steps` must be >= 0"),
    (lambda: check.check_choice("mode", "x", ("a", "b")), ValueError, "`mode` must be one of 'a', 'b'"),
    (lambda: check.check_increasing_ints("m", "12"), TypeError, "`m` must be a list"),
    (lambda: check.check_schedule_or_rate("learning_rate", -1e-3), ValueError, "`learning_rate` must be >= 0"),
])
def test_checks_name_the_argument_and_value(call, error, text):
    with pytest.raises(error) as raised:
        call()
    assert text in str(raised.value)


def test_checks_return_validated_values():
    assert check.check_int("n", 4.0) == 4 and isinstance(check.check_int("n", 4.0), int)
    assert check.check_in_range("p", 1.0, 0, 1, high_inclusive=True) == 1.0
    assert check.check_increasing_ints("m", (1, 5)) == [1, 5]
    assert keras_optkit.__version__


def test_every_public_optimizer_is_registered_and_serializable():
    names = {entry.name for entry in keras_optkit.optimizers.list_optimizers()}
    assert names == set(keras_optkit.optimizers.__all__) - {"list_optimizers"}
    for entry in keras_optkit.optimizers.list_optimizers():
        assert keras.saving.get_registered_name(entry.cls) == f"keras_optkit>{entry.name}"
        assert isinstance(entry.flags["slots"], int)
