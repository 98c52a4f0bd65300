"""``tune(budget_epochs=B/3)`` against a 30-trial random search costing B epochs (``lr_panel.py budget``).

On the panel's classification problems (or those given with ``--problems``), for each seed:

* the reference: ``tune(tuner="random", max_trials=30, narrow_lr_with_finder=False)``, each trial
  ``--budget-epochs`` epochs (E), so B = 30 E epochs;
* each strategy under ``budget_epochs=B/3`` (``max_trials`` high enough never to bind): ``random_suggested``
  (range tests, their suggestions as the first trials, then a random search in the narrowed ranges) and
  ``hyperband`` (the same range tests, then keras-tuner's Hyperband brackets, repeated until the budget stops
  them). ``random_suggested`` is what ``tune(budget_epochs=...)`` does without a ``tuner``: chosen from this
  measurement on the panel's design half (median gap + worst gap / 2), reported on its report half.
  ``random`` (no range test, a random search cut by the budget) is in the code too, left out of the default run
  to keep it short.

Every search uses the default ``SearchSpace()`` (Adam, AdamW and SGD; five schedule families; weight decay and
L2) and the validation accuracy as the objective. A strategy succeeds on a (problem, seed) when its best
validation accuracy is within 0.5 point of the reference's best; the script prints each search's best score and
epochs used, and the median gap per strategy. Results are cached next to the panel's
(benchmarks/results/lr_panel_budget.json).
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from typing import Any

import keras
from _panel_problems import BY_NAME, PROBLEMS, Problem

REFERENCE_TRIALS = 30
STRATEGIES = ("random_suggested", "hyperband")
ALL_STRATEGIES = ("random_suggested", "hyperband", "random")
#: The default run: every classification problem of the panel.
DEFAULT_PROBLEMS = tuple(p.name for p in PROBLEMS if p.task == "classification")


def _search(problem: Problem, seed: int, strategy: str, epochs: int, budget: float | None) -> dict[str, Any]:
    from keras_optkit.tuner import tune

    x, y, x_val, y_val = problem.data()
    shape, outputs = tuple(x.shape[1:]), problem.outputs
    arguments: dict[str, Any] = {
        "validation_data": (x_val, y_val),
        "epochs": epochs,
        "batch_size": problem.batch_size,
        "objective": "val_accuracy",
        "loss": keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        "metrics": ["accuracy"],
        "seed": seed,
        "verbose": 0,
    }
    if strategy == "reference":
        arguments.update(tuner="random", max_trials=REFERENCE_TRIALS, narrow_lr_with_finder=False)
    else:
        arguments.update(budget_epochs=budget, max_trials=1000)
        if strategy == "hyperband":
            arguments["tuner"] = "hyperband"
        elif strategy == "random_suggested":
            arguments["tuner"] = "random"
        elif strategy == "random":
            arguments.update(tuner="random", narrow_lr_with_finder=False)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as directory:
        result = tune(lambda: problem.build(shape, outputs), x, y, directory=directory, **arguments)
        scores = [row["score"] for row in result.table() if row["score"] is not None]
        epochs_used = result.epochs_used
    keras.backend.clear_session()
    return {
        "best": 100.0 * max(scores) if scores else 0.0,
        "epochs_used": epochs_used,
        "trials": len(scores),
        "seconds": time.perf_counter() - start,
    }


def main(args: Any) -> None:
    names = args.problems.split(",") if args.problems else list(DEFAULT_PROBLEMS)
    problems = [BY_NAME[name] for name in names if BY_NAME[name].task == "classification"]
    path = args.results.with_name("lr_panel_budget.json")
    cache = json.loads(path.read_text()) if path.exists() else {}
    epochs = args.budget_epochs
    budget = REFERENCE_TRIALS * epochs / 3.0
    print(f"backend {keras.backend.backend()}; reference: {REFERENCE_TRIALS} random trials x {epochs} epochs "
          f"(B = {REFERENCE_TRIALS * epochs} epochs); strategies under budget_epochs = B/3 = {budget:g}")
    for problem in problems:
        for seed in range(args.budget_seeds):
            key = f"{problem.name}/{seed}/{epochs}"
            entry = cache.setdefault(key, {})
            for strategy in ("reference",) + STRATEGIES:
                if args.no_train or (strategy in entry and not args.force):
                    continue
                entry[strategy] = _search(problem, seed, strategy, epochs, budget)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(json.dumps(cache, indent=1, sort_keys=True))
                print(f"{key} {strategy}: best {entry[strategy]['best']:.2f}, "
                      f"{entry[strategy]['epochs_used']:.1f} epochs, {entry[strategy]['seconds']:.0f} s", flush=True)
    report(cache, problems, args.budget_seeds, epochs)


def report(cache: dict[str, Any], problems: list[Problem], seeds: int, epochs: int) -> None:
    print()
    print("| problem | seed | random 30 trials (B epochs) | " + " | ".join(
        f"{s} (B/3)" for s in STRATEGIES) + " |")
    print("|---|---:|---:|" + "---:|" * len(STRATEGIES))
    gaps: dict[str, list[float]] = {s: [] for s in STRATEGIES}
    per_problem: dict[str, dict[str, list[float]]] = {s: {} for s in STRATEGIES}
    for problem in problems:
        for seed in range(seeds):
            entry = cache.get(f"{problem.name}/{seed}/{epochs}", {})
            if "reference" not in entry:
                continue
            reference = entry["reference"]
            cells = []
            for strategy in STRATEGIES:
                if strategy not in entry:
                    cells.append("-")
                    continue
                gap = reference["best"] - entry[strategy]["best"]
                gaps[strategy].append(gap)
                per_problem[strategy].setdefault(problem.name, []).append(gap)
                cells.append(f"{entry[strategy]['best']:.2f} ({entry[strategy]['epochs_used']:.1f} ep)")
            print(f"| {problem.name} | {seed} | {reference['best']:.2f} ({reference['epochs_used']:.0f} ep) | "
                  + " | ".join(cells) + " |")
    print()
    for half in ("design", "report"):
        names = {p.name for p in problems if p.half == half}
        for strategy in STRATEGIES:
            half_gaps = [g for name, values in per_problem[strategy].items() if name in names for g in values]
            if half_gaps:
                print(f"{half} half, {strategy}: median gap {statistics.median(half_gaps):.2f}, worst "
                      f"{max(half_gaps):.2f} (median + worst / 2 = "
                      f"{statistics.median(half_gaps) + max(half_gaps) / 2:.2f}); within 0.5 point in "
                      f"{sum(g <= 0.5 for g in half_gaps)} of {len(half_gaps)}")
    for strategy in STRATEGIES:
        if gaps[strategy]:
            medians = [statistics.median(v) for v in per_problem[strategy].values()]
            within = sum(g <= 0.5 for g in gaps[strategy])
            print(f"{strategy}: gap to the reference (points) median {statistics.median(gaps[strategy]):.2f} over "
                  f"{len(gaps[strategy])} searches (median over problems of the per-problem median "
                  f"{statistics.median(medians):.2f}); within 0.5 point in {within} of {len(gaps[strategy])}; "
                  f"worst {max(gaps[strategy]):.2f}")
