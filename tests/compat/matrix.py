"""The compatibility matrix: which combinations of optimizer, wrapper, optimizer feature, callback and context
train correctly, and which are refused before the first batch.

The dimensions come from the registry (every optimizer and wrapper registered joins the matrix) and from Keras's
own optimizers. The cells are an all-pairs covering array over the five dimensions and the backend, built greedily: every pair of
values of two of them is in at least one cell that is expected to train, or is itself a combination that is
refused (a refused cell stops at its refusal, so it covers nothing else). The backend being a dimension, a pair
of two other dimensions is run on one backend, and every value meets every backend. On top of that, the full product where dimensions
are known to interact: the distributed contexts with the global-norm optimizers, and the wrappers with
``LossScaleOptimizer`` and ``MultiOptimizer``.

``expected(cell)`` says what each cell must do; tests/compat/test_matrix.py runs every cell of the current backend
and checks it against that and against its reference. ``python -m tests.compat.matrix`` writes
docs/compatibility.md from the same rules; a test checks that the file is current.
"""

from __future__ import annotations

import dataclasses
import itertools
import sys
from functools import cache
from pathlib import Path

BACKENDS = ("tensorflow", "jax", "torch")

KERAS_OPTIMIZERS = (
    "Adam", "AdamW", "SGD", "Lamb", "Lion", "Adafactor", "Muon", "ScheduleFreeAdamW", "MultiOptimizer",
    "LossScaleOptimizer",
)
FEATURES = (
    "float_rate", "schedule", "weight_decay", "clipnorm", "global_clipnorm", "use_ema",
    "gradient_accumulation", "mixed_float16", "sparse_gradients",
)
#: What Keras 3.15 itself does in these contexts, whatever this package's objects do (listed on the page).
KERAS_ISSUES = (
    "- Under `MirroredStrategy`, Keras's `LossScaleOptimizer` (what `compile` wraps the optimizer in under",
    "  `mixed_float16`) decides whether the gradients are finite from the first replica's gradients only: a step",
    "  whose overflow happens on another replica is applied, and the weights become NaN, where one device skips",
    "  the step and halves the loss scale. The matrix's mixed_float16 cells use data whose scaled gradients never",
    "  overflow, and check that no step was skipped; with overflows, one device and MirroredStrategy differ.",
    "- Under `MirroredStrategy` with several replicas Keras's own optimizers apply `clipnorm` and `global_clipnorm`",
    "  to each replica's share of the gradient, and its gradient accumulation fails at the first step. This",
    "  package's optimizers and wrappers refuse those arguments under such a strategy, and its callbacks refuse a",
    "  Keras optimizer that has them when training begins; `AdaptiveGradientClipping` around Keras's optimizer",
    "  clips the summed gradient.",
)
#: The registry's callbacks the matrix does not run as themselves, and why (a test checks every other registered
#: callback is a value of the callback dimension).
NOT_IN_MATRIX = {
    "LRFinder": "run through find_lr, the function that drives it and restores the model",
    "TimeStopping": "stops fit on wall-clock time; it reads and writes neither the optimizer nor the weights",
}
CONTEXTS = ("one_device", "mirrored", "data_parallel", "backup_restore", "save_load")
# Contexts that need a process of their own (devices are configured before the backend starts).
DISTRIBUTED = {"mirrored": "tensorflow", "data_parallel": "jax"}
# Optimizers whose step depends on a norm or sum over more than one variable, or over a whole variable: the ones a
# distributed run can get wrong by reducing too little.
GLOBAL_NORM = ("GradientNormRatioSGD", "Prodigy", "LARS", "NovoGrad", "Lamb", "Muon")


@cache
def package_optimizers() -> tuple[str, ...]:
    from keras_optkit import list_entries

    return tuple(e.name for e in list_entries("optimizer") if not e.flags.get("wrapper"))


@cache
def callbacks() -> tuple[str, ...]:
    from keras_optkit import list_entries

    names = tuple(e.name for e in list_entries("callback") if e.name not in NOT_IN_MATRIX)
    return ("none", "find_lr", *names)


@cache
def wrappers() -> tuple[str, ...]:
    from keras_optkit import list_entries

    return ("none",) + tuple(e.name for e in list_entries("optimizer") if e.flags.get("wrapper"))


def optimizers() -> tuple[str, ...]:
    return package_optimizers() + tuple(f"keras.{name}" for name in KERAS_OPTIMIZERS)


def contexts(backend: str) -> tuple[str, ...]:
    return tuple(c for c in CONTEXTS if DISTRIBUTED.get(c, backend) == backend)


@dataclasses.dataclass(frozen=True)
class Cell:
    optimizer: str
    wrapper: str = "none"
    feature: str = "float_rate"
    callback: str = "none"
    context: str = "one_device"

    @property
    def id(self) -> str:
        return "-".join(dataclasses.astuple(self))

    @classmethod
    def from_id(cls, text: str) -> Cell:
        return cls(*text.split("-"))


DIMENSIONS = ("optimizer", "wrapper", "feature", "callback", "context")


def dimension_values(backend: str) -> dict[str, tuple[str, ...]]:
    return {
        "optimizer": optimizers(), "wrapper": wrappers(), "feature": FEATURES, "callback": callbacks(),
        "context": contexts(backend),
    }


# ---- what each combination must do -------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Refusal:
    """A combination refused before the first batch: ``match`` is a regex the error message must match."""

    dimensions: tuple[str, ...]
    match: str
    reason: str


_SCHEDULED = ("beta_1", "momentum")


@cache
def scheduled_hyperparameter(optimizer: str) -> str | None:
    """The hyperparameter the matrix drives with HyperparameterScheduler: beta_1, else momentum, else None."""
    from tests.compat.cells import make_optimizer

    built = make_optimizer(optimizer, "none", "float_rate")
    subs = list(getattr(built, "optimizers", None) or [built])
    while getattr(subs[-1], "inner_optimizer", None) is not None:
        subs.append(subs[-1].inner_optimizer)
    for name in _SCHEDULED:
        if any(isinstance(getattr(sub, name, None), float) and getattr(sub, name) > 0 for sub in subs):
            return name
    return None


def refusal(cell: Cell) -> Refusal | None:
    """Why ``cell`` is refused before the first batch, or None if it must train."""
    optimizer = cell.optimizer
    if cell.wrapper != "none" and optimizer == "keras.LossScaleOptimizer":
        return Refusal(("optimizer", "wrapper"), r"LossScaleOptimizer\(\w+\(\.\.\.\)\)",
                       "wrap the other way round: LossScaleOptimizer(wrapper(...))")
    if cell.wrapper != "none" and optimizer == "keras.MultiOptimizer":
        return Refusal(("optimizer", "wrapper"), "cannot wrap a MultiOptimizer",
                       "wrap each sub-optimizer instead")
    if cell.callback == "find_lr" and optimizer == "keras.MultiOptimizer":
        return Refusal(("optimizer", "callback"), "does not support Keras's MultiOptimizer",
                       "one rate per sub-optimizer: run the range test with one of them")
    if cell.callback == "find_lr" and cell.feature == "gradient_accumulation":
        return Refusal(("feature", "callback"), "gradient accumulation",
                       "run the range test with batch_size * gradient_accumulation_steps instead")
    if cell.context == "mirrored" and cell.feature in _PER_REPLICA and not _keras_alone(cell):
        return Refusal(("optimizer", "feature", "context"), _PER_REPLICA[cell.feature],
                       "Keras applies it to each replica's share of the gradient, or fails: refused when built")
    if cell.context == "mirrored" and cell.feature in _PER_REPLICA and cell.callback != "none":
        return Refusal(("feature", "callback", "context"), _PER_REPLICA[cell.feature],
                       "Keras's optimizer would apply it to each replica's share of the gradient, or fail: this "
                       "package's callbacks refuse to take part when training begins")
    if cell.callback == "StochasticWeightAveraging" and cell.context == "backup_restore":
        return Refusal(("callback", "context"), "was not saved",
                       "the running average is not in the backup: resume with start_epoch at the resumed epoch")
    if (cell.callback in ("NaNGuard", "ReduceLROnPlateau") and cell.context == "backup_restore"
            and cell.feature == "schedule"):
        return Refusal(("feature", "callback", "context"), "does not carry the \\w+'s earlier reductions",
                       "a weights backup does not hold a lowered schedule: use a float rate, or a .keras file")
    if cell.callback == "HyperparameterScheduler" and scheduled_hyperparameter(optimizer) is None:
        return Refusal(("optimizer", "callback"), "must name a float attribute",
                       "has no beta_1 or momentum to schedule")
    return None


_PER_REPLICA = {
    "clipnorm": "applies `clipnorm` to each replica's share", "global_clipnorm": "applies `global_clipnorm` to each",
    "gradient_accumulation": "gradient accumulation fails under a tf.distribute strategy",
}


def _keras_alone(cell: Cell) -> bool:
    """A Keras optimizer with no wrapper of this package around it: nothing of ours is built to refuse."""
    return cell.wrapper == "none" and cell.optimizer.startswith("keras.")


def _nothing_of_ours(cell: Cell) -> bool:
    """Keras's optimizer, no wrapper and no callback of this package: the cell is Keras's alone."""
    return _keras_alone(cell) and cell.callback == "none"


def known_gap(cell: Cell, backend: str | None = None) -> str | None:
    """A combination that neither trains correctly nor is refused yet: the test expects it to fail (not strictly:
    with some optimizers the difference vanishes), and docs/compatibility.md lists it."""
    if cell.context == "mirrored" and cell.feature in _PER_REPLICA and _nothing_of_ours(cell):
        return ("Keras's own optimizer with nothing of this package in the run: Keras clips each replica's share "
                "of the gradient under MirroredStrategy (or crashes with gradient accumulation); this package's "
                "optimizers, wrappers and callbacks refuse it")
    if backend in (None, "jax") and cell.feature == "use_ema" and _keras_alone(cell) and (
            cell.context == "save_load" or (cell.context == "backup_restore" and cell.callback == "ReduceLROnPlateau")):
        return ("Keras's own optimizer, unwrapped: on JAX, Keras 3.15 fails at the first step of a second fit with "
                "use_ema=True (the weights were given the average's buffer itself); this package's optimizers and "
                "wrappers copy it; TensorFlow and PyTorch pass")
    return None


def expected(cell: Cell, backend: str | None = None) -> str:
    if known_gap(cell, backend):
        return "gap"
    return "refused" if refusal(cell) else "works"


# ---- the cells -------------------------------------------------------------------------------------------------

AXES = ("backend",) + DIMENSIONS


def _allowed(axis_a: str, value_a: str, axis_b: str, value_b: str) -> bool:
    """Whether two values can meet in one cell: a distributed context exists on one backend only."""
    pair = {axis_a: value_a, axis_b: value_b}
    if set(pair) == {"backend", "context"}:
        return DISTRIBUTED.get(pair["context"], pair["backend"]) == pair["backend"]
    return True


def _row_pairs(row: dict[str, str]) -> set[tuple[str, str, str, str]]:
    reason = refusal(_cell(row))
    names = reason.dimensions if reason else AXES  # a refused cell stops at its refusal
    return {(a, row[a], b, row[b]) for a, b in itertools.combinations(names, 2)}


def _cell(row: dict[str, str]) -> Cell:
    return Cell(**{name: row[name] for name in DIMENSIONS})


@cache
def covering_array() -> tuple[tuple[str, Cell], ...]:
    """A greedy all-pairs covering array over the backend and the five dimensions: every allowed pair of
    values of two of them is in a cell that trains, or is itself refused. Returns (backend, cell) pairs."""
    values = {"backend": BACKENDS, "optimizer": optimizers(), "wrapper": wrappers(), "feature": FEATURES,
              "callback": callbacks(), "context": CONTEXTS}
    wanted = {
        (a, va, b, vb)
        for a, b in itertools.combinations(AXES, 2) for va in values[a] for vb in values[b]
        if _allowed(a, va, b, vb)
    }
    order = {axis: {value: i for i, value in enumerate(values[axis])} for axis in AXES}
    rows: list[dict[str, str]] = []
    used = {axis: dict.fromkeys(values[axis], 0) for axis in AXES}  # ties go to the least used value
    while wanted:
        a, va, b, vb = min(wanted, key=lambda p: (AXES.index(p[0]), AXES.index(p[2]), order[p[0]][p[1]],
                                                  order[p[2]][p[3]]))
        row = {axis: values[axis][0] for axis in AXES}  # placeholders, chosen below
        row["context"] = "one_device"
        row.update({a: va, b: vb})
        reason = refusal(_cell(row))
        if reason is None or set(reason.dimensions) != {a, b}:
            for axis in AXES:
                if axis in (a, b):
                    continue
                best, best_gain = None, (-1, 0)
                for value in values[axis]:
                    candidate = {**row, axis: value}
                    if not all(_allowed(x, candidate[x], y, candidate[y])
                               for x, y in itertools.combinations(AXES, 2)):
                        continue
                    if refusal(_cell(candidate)) is not None:
                        continue
                    gain = (len(_row_pairs(candidate) & wanted), -used[axis][value])
                    if gain > best_gain:
                        best, best_gain = candidate, gain
                row = best if best is not None else row
        covered = _row_pairs(row) & wanted
        if not covered:
            raise RuntimeError(f"the covering array made no progress at {row}")
        wanted -= covered
        rows.append(row)
        for axis in AXES:
            used[axis][row[axis]] += 1
    return tuple((row["backend"], _cell(row)) for row in rows)


def all_pairs(backend: str) -> list[Cell]:
    """The cells of the covering array that run on ``backend``."""
    return [cell for cell_backend, cell in covering_array() if cell_backend == backend]


def interacting(backend: str) -> list[Cell]:
    """The full products where dimensions are known to interact."""
    cells = []
    for context in contexts(backend):
        if context not in DISTRIBUTED:
            continue
        for optimizer in optimizers():
            if optimizer.split(".")[-1] in GLOBAL_NORM:
                cells.append(Cell(optimizer, context=context))
        for wrapper in wrappers()[1:]:
            cells.append(Cell("keras.Adam", wrapper=wrapper, context=context))
            # An embedding's tf.IndexedSlices through the wrapper's two reductions, into Keras's per-slice Adam.
            cells.append(Cell("keras.Adam", wrapper=wrapper, feature="sparse_gradients", context=context))
        cells.append(Cell("keras.Adam", feature="global_clipnorm", context=context))
        if context == "mirrored":  # refused by this package's optimizers and wrappers when built
            for feature in _PER_REPLICA:
                cells.append(Cell("GradientNormRatioSGD", feature=feature, context=context))
                cells.append(Cell("keras.Adam", wrapper="Lookahead", feature=feature, context=context))
            # ... and by each callback of this package, around Keras's own optimizer, when training begins.
            features = itertools.cycle(_PER_REPLICA)
            for callback in callbacks()[1:]:
                cells.append(Cell("keras.Adam", feature=next(features), callback=callback, context=context))
    for wrapper in wrappers()[1:]:
        for optimizer in ("keras.LossScaleOptimizer", "keras.MultiOptimizer"):
            cells.append(Cell(optimizer, wrapper=wrapper))
        cells.append(Cell("keras.Adam", wrapper=wrapper, feature="mixed_float16"))
    # Keras's EMA of the weights across a .keras file (JAX: see known_gap), with Keras's optimizer and one of ours.
    for optimizer, wrapper in (("keras.Adam", "none"), ("RAdam", "none"), ("keras.Adam", "Lookahead")):
        cells.append(Cell(optimizer, wrapper=wrapper, feature="use_ema", context="save_load"))
    # Callbacks whose state is in a schedule, the callback or the model (pruning masks), across a resume and a
    # .keras file.
    for callback in ("NaNGuard", "ReduceLROnPlateau", "StochasticWeightAveraging", "MagnitudePruning"):
        for context in ("backup_restore", "save_load"):
            for feature in ("float_rate", "schedule"):
                cells.append(Cell("keras.Adam", feature=feature, callback=callback, context=context))
    return cells


def cells_for(backend: str) -> list[Cell]:
    seen: dict[str, Cell] = {}
    for cell in all_pairs(backend) + interacting(backend):
        seen.setdefault(cell.id, cell)
    return list(seen.values())


# ---- docs/compatibility.md ---------------------------------------------------------------------------------

DOC = Path(__file__).resolve().parents[2] / "docs" / "compatibility.md"


def _mark(cell: Cell) -> str:
    reason = refusal(cell)
    if known_gap(cell):
        return f"**not yet supported**: {known_gap(cell)}"
    return "yes" if reason is None else f"refused: {reason.reason}"


def render() -> str:
    rows_by = {
        "optimizer": optimizers(), "wrapper": wrappers()[1:], "feature": FEATURES, "callback": callbacks()[1:],
    }
    columns_by = {"wrapper": wrappers()[1:], "feature": FEATURES, "callback": callbacks()[1:],
                  "context": CONTEXTS}
    lines = [
        "# Compatibility",
        "",
        "What each combination does, from the compatibility matrix in `tests/compat/` (regenerate this page with",
        "`python -m tests.compat.matrix`; a test fails when it is out of date). **yes**: it trains, and the test",
        "suite checks the result against a reference (the same recipe on one device, an uninterrupted run, or",
        "the invariants of the callback); **refused**: it raises a `ValueError` or `TypeError` at construction,",
        "compile or before the first batch, with a message that says what to do instead. Nothing else: no",
        "combination trains wrongly or crashes in the middle of `fit`.",
        "",
        "Contexts: `mirrored` is `tf.distribute.MirroredStrategy` (TensorFlow only), `data_parallel` is",
        "`keras.distribution.DataParallel` (JAX only); `backup_restore` is a run interrupted after its second",
        "epoch and resumed with `keras.callbacks.BackupAndRestore`; `save_load` saves a `.keras` file between",
        "two `fit` calls and continues from the loaded model.",
        "",
        "| backend | cells | works | refused | not yet supported |",
        "|---|---:|---:|---:|---:|",
    ]
    for backend in BACKENDS:
        outcomes = [expected(c, backend) for c in cells_for(backend)]
        lines.append(f"| {backend} | {len(outcomes)} | {outcomes.count('works')} | {outcomes.count('refused')} "
                     f"| {outcomes.count('gap')} |")
    for row_dimension, row_values in rows_by.items():
        for column_dimension, column_values in columns_by.items():
            if DIMENSIONS.index(column_dimension) <= DIMENSIONS.index(row_dimension):
                continue
            table = [[_mark(_pair_cell(row_dimension, r, column_dimension, c)) for c in column_values]
                     for r in row_values]
            if all(mark == "yes" for line in table for mark in line):
                lines += ["", f"## {row_dimension} x {column_dimension}", "",
                          f"Every {row_dimension} works with every {column_dimension}."]
                continue
            lines += ["", f"## {row_dimension} x {column_dimension}", "",
                      "Pairs not listed work. The others:", ""]
            for r, line in zip(row_values, table, strict=True):
                for c, mark in zip(column_values, line, strict=True):
                    if mark != "yes":
                        lines.append(f"- `{r}` with `{c}`: {mark}")
    triples = []
    for feature, callback, context in itertools.product(FEATURES, callbacks()[1:], CONTEXTS):
        cell = Cell("keras.Adam", feature=feature, callback=callback, context=context)
        reason = refusal(cell)
        if reason is not None and len(reason.dimensions) == 3:
            triples.append(f"- `{feature}` with `{callback}` in `{context}`: refused: {reason.reason}")
    if triples:
        lines += ["", "## Combinations of three", "", *triples]
    lines += ["", "## Keras's own behaviour", "", *KERAS_ISSUES]
    lines += ["", "## Not in the matrix", "", *(f"- `{name}`: {why}" for name, why in NOT_IN_MATRIX.items())]
    return "\n".join(lines) + "\n"


def _pair_cell(a: str, va: str, b: str, vb: str) -> Cell:
    seed = {a: va, b: vb}
    seed.setdefault("optimizer", "keras.Adam")
    return Cell(**seed)


def main(argv: list[str]) -> int:
    text = render()
    if argv[1:] == ["--check"]:
        return 0 if DOC.exists() and DOC.read_text() == text else 1
    DOC.write_text(text)
    print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

