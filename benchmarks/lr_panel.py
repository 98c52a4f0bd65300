"""How far is a suggested learning rate from the best one? A panel of small problems, measured.

For every problem of benchmarks/_panel_problems.py (MLPs, 1-D and 2-D CNNs with and without BatchNorm, a GRU, an
attention block; classification and regression; batch sizes 16-256; Adam, AdamW, SGD with momentum, and this
package's RAdam and AdaBelief):

1. ``grid``: the ground truth. Every rate of a grid of 16 log-spaced rates (a factor 2 apart, 4.5 decades), for
   three schedule families (constant; OneCycle peaking at the rate; WarmupCosineDecay peaking at it after a 10 %
   warmup), trained for the problem's fixed number of steps with 3 seeds. Plus one learning-rate range test
   (``find_lr``, its default sweep 1e-7 .. 10 in 100 steps) per seed.
2. ``verify``: every rule's suggested rate (this package's ``suggest(schedule)`` and fastai's ``minimum``,
   ``steepest`` and ``valley``), read from each seed's range test, trained with that seed.
3. ``report``: the regret of every rule on every problem and schedule = the best score of the grid (median over
   the seeds, at each rate) minus the median score at the suggested rates, in points (accuracy in %, or
   100 x R^2), for the design half and the report half; a bar chart of the report half.

``refine``: the ``refine`` rule, ``keras_optkit.callbacks.refine_lr``'s short second sweep (candidates
``suggest(schedule) x 10**REFINE_EXPONENTS``, each trained for a fifth of the problem's steps, the lowest score
kept: REFINE_SCORING), computed through the same vmapped trainer, then its chosen rates trained in full;
``design-refine`` compares subsets of the candidates and the two scores on the design half.

``design`` prints how the candidate rules do on the design half (each run's score at a rate off the grid is read
by interpolating its grid curve in log-rate): it is how the constants of ``LRFinderResult.suggest`` were chosen.
``budget`` measures ``tune(budget_epochs=B/3)`` against a 30-trial random search costing B epochs (see
benchmarks/_panel_budget.py).

Results are cached in benchmarks/results/lr_panel.json (one entry per problem; ``--force`` recomputes), so
``report`` redraws the tables without training. Training runs on the JAX backend, all runs of a problem in one
compiled program (see benchmarks/_panel_train.py); set ``KERAS_BACKEND=jax``.

    KERAS_BACKEND=jax python benchmarks/lr_panel.py                       # grid + verify + report, all
    KERAS_BACKEND=jax python benchmarks/lr_panel.py grid --problems digits_mlp,waves_cnn1d
    KERAS_BACKEND=jax python benchmarks/lr_panel.py report --half report
    KERAS_BACKEND=jax python benchmarks/lr_panel.py budget
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "jax")
# Two threads at most: the panel shares a 2-core machine.
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=2")
os.environ.setdefault("OMP_NUM_THREADS", "2")
os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "2")
os.environ.setdefault("TF_NUM_INTEROP_THREADS", "2")

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _panel_problems import BY_NAME, PROBLEMS, Problem  # noqa: E402

HERE = Path(__file__).resolve().parent
DEFAULT_RESULTS = HERE / "results" / "lr_panel.json"
SCHEDULES = ("constant", "one_cycle", "cosine")
FASTAI_RULES = ("minimum", "steepest", "valley")
RULES = ("suggest", "refine") + FASTAI_RULES
#: The short sweep of ``refine_lr``: candidates suggest(schedule) x 10**REFINE_EXPONENTS (chosen with
#: ``design-refine`` on the design half), each trained for a fifth of the
#: problem's steps under the schedule compressed to them. ``refine`` caches the losses of the wider set
#: REFINE_MEASURED, so that ``design`` can compare subsets of it without training.
REFINE_MEASURED = (-1.5, -1.0, -0.5, 0.0, 0.5)
REFINE_EXPONENTS = (-1.0, 0.0, 0.5)
#: How the short trials are scored (chosen with ``design-refine`` too): ``"train"``, the mean training loss of a
#: trial's last quarter, or ``"validation"``, the validation loss after it.
REFINE_SCORING = "train"
REFINE_FRACTION = 5
SEEDS = (0, 1, 2)
#: Grid exponents: 16 rates a factor 10**0.3 (about 2) apart.
GRID_STEPS = 16
GRID_START = {"sgd": -3.0}
ADAPTIVE_START = -4.0


def grid_rates(problem: Problem) -> np.ndarray:
    start = problem.grid_start
    if start is None:
        start = GRID_START.get(problem.optimizer, ADAPTIVE_START)
    return 10.0 ** (start + 0.3 * np.arange(GRID_STEPS))


# ---- cache ------------------------------------------------------------------------------------------------------


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.exists() else {}


def save(path: Path, results: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(results, indent=1, sort_keys=True))
    temporary.replace(path)


# ---- measuring ------------------------------------------------------------------------------------------------


def run_grid(problem: Problem) -> dict[str, Any]:
    from _panel_train import range_test, schedule_multipliers, train_runs

    rates = grid_rates(problem)
    runs, keys = [], []
    for schedule in SCHEDULES:
        shape = schedule_multipliers(schedule, problem.steps)
        for seed in SEEDS:
            for index, rate in enumerate(rates):
                runs.append((seed, rate * shape))
                keys.append((schedule, seed, index))
    start = time.perf_counter()
    scores = train_runs(problem, runs)
    trained = time.perf_counter() - start
    table = {schedule: [[0.0] * len(rates) for _ in SEEDS] for schedule in SCHEDULES}
    for (schedule, seed, index), value in zip(keys, scores, strict=True):
        table[schedule][SEEDS.index(seed)][index] = value
    start = time.perf_counter()
    tests = [range_test(problem, seed) for seed in SEEDS]
    tested = time.perf_counter() - start
    return {
        "rates": rates.tolist(),
        "scores": table,
        "range_tests": tests,
        "seconds": {"grid": trained, "range_tests": tested, "runs": len(runs)},
    }


def finder_result(test: dict[str, Any]) -> Any:
    from keras_optkit.callbacks import LRFinderResult

    return LRFinderResult(
        test["learning_rates"], test["losses"], test["smoothed_losses"], diverged=test["diverged"]
    )


def refined_rate(
    sweep: dict[str, Any], exponents: tuple[float, ...] = REFINE_EXPONENTS, scoring: str = REFINE_SCORING
) -> float:
    """The candidate of a cached short sweep with the lowest finite loss no higher than before training (the
    anchor if none is): the validation loss after the trial (``scoring="validation"``, what ``refine_lr``
    computes with ``validation_data``) or the mean training loss of the trial's last quarter (``"train"``, what
    it computes without)."""
    key, initial = ("losses", "initial_loss") if scoring == "validation" else ("train_losses", "initial_train_loss")
    losses = {e: v for e, v in zip(sweep["exponents"], sweep[key], strict=True) if e in exponents}
    finite = {e: v for e, v in losses.items() if math.isfinite(v) and v <= sweep[initial]}
    exponent = min(finite, key=finite.get) if finite else 0.0
    return float(sweep["anchor"] * 10.0**exponent)


def suggested_rate(test: dict[str, Any], rule: str, schedule: str, sweep: dict[str, Any] | None = None) -> float:
    result = finder_result(test)
    if rule == "suggest":
        return float(result.suggest(schedule))
    if rule == "refine":
        if sweep is None:
            raise ValueError("The refine rule needs the short sweep: run `lr_panel.py refine` first.")
        return refined_rate(sweep)
    return float(getattr(result, rule))


def run_refine(problem: Problem, entry: dict[str, Any]) -> dict[str, Any]:
    """The short sweep of every seed and schedule, through the vmapped trainer: from the seed's initial weights
    and batch order, each candidate trained for ``problem.steps // REFINE_FRACTION`` steps under the schedule
    compressed to them, scored by the validation loss (what ``refine_lr`` computes with ``validation_data``)."""
    from _panel_train import schedule_multipliers, train_runs

    steps = problem.steps // REFINE_FRACTION
    runs, keys = [], []
    for schedule in SCHEDULES:
        shape = schedule_multipliers(schedule, steps)
        for seed in SEEDS:
            anchor = suggested_rate(entry["range_tests"][SEEDS.index(seed)], "suggest", schedule)
            runs.append((seed, 0.0 * shape))
            keys.append((schedule, seed, anchor, None))
            for exponent in REFINE_MEASURED:
                runs.append((seed, anchor * 10.0**exponent * shape))
                keys.append((schedule, seed, anchor, exponent))
    start = time.perf_counter()
    losses = train_runs(problem, runs, steps=steps, measure="loss")
    train_losses = train_runs(problem, runs, steps=steps, measure="train_tail")
    sweeps: dict[str, list] = {s: [] for s in SCHEDULES}
    for (schedule, _seed, anchor, exponent), value, train in zip(keys, losses, train_losses, strict=True):
        if exponent is None:
            sweeps[schedule].append({"anchor": anchor, "initial_loss": value, "exponents": [], "losses": [],
                                     "initial_train_loss": train, "train_losses": []})
        else:
            sweeps[schedule][-1]["exponents"].append(exponent)
            sweeps[schedule][-1]["losses"].append(value)
            sweeps[schedule][-1]["train_losses"].append(train)
    return {"steps": steps, "sweeps": sweeps, "seconds": time.perf_counter() - start, "runs": len(runs)}


def run_verify(problem: Problem, entry: dict[str, Any], rules: tuple[str, ...] = RULES) -> dict[str, Any]:
    from _panel_train import schedule_multipliers, train_runs

    runs, keys = [], []
    for rule in rules:
        for schedule in SCHEDULES:
            shape = schedule_multipliers(schedule, problem.steps)
            for seed in SEEDS:
                sweep = entry["refine"]["sweeps"][schedule][SEEDS.index(seed)] if rule == "refine" else None
                rate = suggested_rate(entry["range_tests"][SEEDS.index(seed)], rule, schedule, sweep)
                runs.append((seed, rate * shape))
                keys.append((rule, schedule, rate))
    scores = train_runs(problem, runs)
    verified: dict[str, Any] = {rule: {s: {"rates": [], "scores": []} for s in SCHEDULES} for rule in rules}
    for (rule, schedule, rate), value in zip(keys, scores, strict=True):
        verified[rule][schedule]["rates"].append(rate)
        verified[rule][schedule]["scores"].append(value)
    return verified


# ---- regret ---------------------------------------------------------------------------------------------------


def best_grid_score(entry: dict[str, Any], schedule: str) -> float:
    return float(np.max(np.median(np.asarray(entry["scores"][schedule]), axis=0)))


def interpolated_score(entry: dict[str, Any], schedule: str, seed_index: int, rate: float) -> float:
    """A run's score at ``rate`` read from its grid curve (linear in log-rate; the end values outside)."""
    if not np.isfinite(rate) or rate <= 0:
        return 0.0
    curve = np.asarray(entry["scores"][schedule][seed_index])
    return float(np.interp(np.log10(rate), np.log10(entry["rates"]), curve))


def regret(entry: dict[str, Any], rule: str, schedule: str, measured: bool = True) -> float:
    """Best grid score minus the median score at the rule's rates (trained ones when ``measured``)."""
    if measured:
        scores = entry["verify"][rule][schedule]["scores"]
    else:
        scores = [
            interpolated_score(entry, schedule, i, suggested_rate(test, rule, schedule))
            for i, test in enumerate(entry["range_tests"])
        ]
    return best_grid_score(entry, schedule) - float(np.median(scores))


def best_rate(entry: dict[str, Any], schedule: str) -> float:
    median = np.median(np.asarray(entry["scores"][schedule]), axis=0)
    return float(entry["rates"][int(np.argmax(median))])


# ---- commands -------------------------------------------------------------------------------------------------


def selected(args: argparse.Namespace) -> list[Problem]:
    problems = list(PROBLEMS)
    if args.problems:
        unknown = [name for name in args.problems.split(",") if name not in BY_NAME]
        if unknown:
            raise SystemExit(f"Unknown problems {unknown}; known: {', '.join(BY_NAME)}")
        problems = [BY_NAME[name] for name in args.problems.split(",")]
    if args.half != "all":
        problems = [p for p in problems if p.half == args.half]
    return problems


def command_grid(args: argparse.Namespace) -> None:
    results = load(args.results)
    for problem in selected(args):
        if problem.name in results and "scores" in results[problem.name] and not args.force:
            continue
        start = time.perf_counter()
        results[problem.name] = run_grid(problem)
        save(args.results, results)
        print(f"grid {problem.name}: {time.perf_counter() - start:.0f} s", flush=True)


def command_verify(args: argparse.Namespace) -> None:
    results = load(args.results)
    for problem in selected(args):
        entry = results.get(problem.name)
        if entry is None:
            print(f"verify {problem.name}: no grid yet, skipped")
            continue
        if "verify" in entry and not args.force:
            continue
        start = time.perf_counter()
        entry["verify"] = run_verify(problem, entry)
        save(args.results, results)
        print(f"verify {problem.name}: {time.perf_counter() - start:.0f} s", flush=True)


def command_refine(args: argparse.Namespace) -> None:
    """The short sweep of every problem (cached), then the runs at the rates the ``refine`` rule picks."""
    results = load(args.results)
    for problem in selected(args):
        entry = results.get(problem.name)
        if entry is None:
            print(f"refine {problem.name}: no grid yet, skipped")
            continue
        start = time.perf_counter()
        stale = "refine" in entry and "train_losses" not in entry["refine"]["sweeps"]["constant"][0]
        if "refine" not in entry or args.force or stale:
            entry["refine"] = run_refine(problem, entry)
        if "refine" not in entry.get("verify", {}) or args.force or args.reverify:
            entry.setdefault("verify", {}).update(run_verify(problem, entry, rules=("refine",)))
        save(args.results, results)
        print(f"refine {problem.name}: {time.perf_counter() - start:.0f} s "
              f"(short sweep {entry['refine']['runs']} runs of {entry['refine']['steps']} steps)", flush=True)


def command_design_refine(args: argparse.Namespace) -> None:
    """How subsets of the cached short-sweep candidates do on the design half (scores read off the grid)."""
    import itertools

    results = load(args.results)
    problems = [p for p in PROBLEMS if p.half == "design" and "refine" in results.get(p.name, {})]
    subsets = [c for n in (3, 4, 5) for c in itertools.combinations(REFINE_MEASURED, n) if 0.0 in c]
    for scoring, subset in itertools.product(("validation", "train"), subsets):
        line, objective = [], 0.0
        for schedule in SCHEDULES:
            values = []
            for p in problems:
                entry = results[p.name]
                scores = [
                    interpolated_score(entry, schedule, i, refined_rate(sweep, subset, scoring))
                    for i, sweep in enumerate(entry["refine"]["sweeps"][schedule])
                ]
                values.append(best_grid_score(entry, schedule) - float(np.median(scores)))
            line.append(f"{schedule} median {statistics.median(values):.2f} worst {max(values):.2f}")
            objective += statistics.median(values) + 0.5 * max(values)
        print(f"  {scoring} {subset} (objective {objective:.2f}): " + "; ".join(line))


def _summary_line(label: str, values: list[float]) -> str:
    return f"{label}: median {statistics.median(values):.2f}, worst {max(values):.2f}" if values else label


def anchors(test: dict[str, Any]) -> dict[str, float]:
    """Candidate reference rates read from a range test's smoothed loss, in its suggestion window."""
    result = finder_result(test)
    rates, values = result.window()
    if len(values) < 2:
        return {}
    lowest = int(np.argmin(values))
    start = float(np.median(values[: max(3, len(values) // 10)]))
    drop = max(start - values[lowest], 1e-12)
    found = {"lowest": float(rates[lowest]), "steepest": result.steepest, "valley": result.valley}
    for fraction in (0.25, 0.5, 0.75, 0.9):
        reached = np.flatnonzero(values[: lowest + 1] <= start - fraction * drop)
        found[f"drop{int(fraction * 100)}"] = float(rates[reached[0]]) if len(reached) else float(rates[lowest])
    for fraction in (0.1, 0.25, 0.5, 1.0):
        above = np.flatnonzero(values[lowest:] > values[lowest] + fraction * drop)
        found[f"edge{int(fraction * 100)}"] = float(rates[lowest + above[0]]) if len(above) else float(rates[-1])
    return found


def command_design(args: argparse.Namespace) -> None:
    """Fits ``rate = anchor x 10**offset`` per schedule on the design half, reading every run's score off its
    grid curve (no training), and prints the best few rules and how fastai's rules do."""
    results = load(args.results)
    problems = [p for p in PROBLEMS if p.half == "design" and p.name in results]
    print(f"design half: {', '.join(p.name for p in problems)}")
    found = {p.name: [anchors(t) for t in results[p.name]["range_tests"]] for p in problems}
    names = sorted(set.intersection(*(set(a) for p in problems for a in found[p.name])))
    # Geometric means of two anchors as well: two noisy readings of the same curve.
    for p in problems:
        for a in found[p.name]:
            for i, first in enumerate(names):
                for second in names[i + 1 :]:
                    a[f"{first}*{second}"] = math.sqrt(a[first] * a[second])
    names = sorted(set.intersection(*(set(a) for p in problems for a in found[p.name])))
    offsets = np.round(np.arange(-2.0, 1.01, 0.05), 2)
    shared: dict[str, list] = {name: [] for name in names}
    for schedule in SCHEDULES:
        print(f"{schedule}:")
        for rule in FASTAI_RULES:
            values = [regret(results[p.name], rule, schedule, measured=False) for p in problems]
            print(_summary_line(f"  fastai {rule:>9}", values))
        candidates = []
        for name in names:
            for offset in offsets:
                values = []
                for p in problems:
                    entry = results[p.name]
                    scores = [
                        interpolated_score(entry, schedule, i, a[name] * 10.0**offset)
                        for i, a in enumerate(found[p.name])
                    ]
                    values.append(best_grid_score(entry, schedule) - float(np.median(scores)))
                # The goal weighs the typical and the worst regret: minimize their sum, the worst counted half.
                candidates.append((statistics.median(values) + 0.5 * max(values), name, offset, values))
        for name in names:
            shared[name].append(min((c for c in candidates if c[1] == name), key=lambda c: c[0]))
        candidates.sort(key=lambda c: c[0])
        for objective, name, offset, values in candidates[:6]:
            print(_summary_line(f"  {name:>9} x 10**{offset:+.2f} (objective {objective:.2f})", values))
        best = candidates[0]
        print("    per problem: " + ", ".join(f"{p.name} {v:.1f}" for p, v in zip(problems, best[3], strict=True)))
    print("one anchor for every schedule, its best offset per schedule (sum of the three objectives):")
    ranked = sorted(shared.items(), key=lambda item: sum(c[0] for c in item[1]))
    for name, best in ranked[:8]:
        print(f"  {name:>16} total {sum(c[0] for c in best):.2f}: " + "; ".join(
            f"{schedule} 10**{c[2]:+.2f} median {statistics.median(c[3]):.2f} worst {max(c[3]):.2f}"
            for schedule, c in zip(SCHEDULES, best, strict=True)))
    print("log10(best rate / lowest-loss rate), per problem and schedule:")
    for p in problems:
        entry = results[p.name]
        lowest = np.median([a["lowest"] for a in found[p.name]])
        ratios = [np.log10(best_rate(entry, s) / lowest) for s in SCHEDULES]
        print(f"  {p.name:>18} {p.optimizer:>9}: "
              + "  ".join(f"{s} {r:+.2f}" for s, r in zip(SCHEDULES, ratios, strict=True)))


def report_tables(results: dict[str, Any], half: str) -> tuple[str, dict[str, dict[str, list[float]]]]:
    problems = [p for p in PROBLEMS if (half == "all" or p.half == half) and "verify" in results.get(p.name, {})]
    lines = [
        f"{half} half: regret in points (best grid score - median score at the suggested rates), "
        "per problem and schedule",
        "",
        "| problem | model | optimizer | batch | task | schedule | best grid score | best rate | "
        + " | ".join(RULES) + " |",
        "|---|---|---|---:|---|---|---:|---:|" + "---:|" * len(RULES),
    ]
    collected: dict[str, dict[str, list[float]]] = {rule: {s: [] for s in SCHEDULES} for rule in RULES}
    for p in problems:
        entry = results[p.name]
        for schedule in SCHEDULES:
            cells = []
            for rule in RULES:
                value = regret(entry, rule, schedule)
                collected[rule][schedule].append(value)
                rate = statistics.median(entry["verify"][rule][schedule]["rates"])
                cells.append(f"{value:.1f} ({rate:.2g})")
            lines.append(
                f"| {p.name} | {p.model} | {p.optimizer} | {p.batch_size} | {p.task} | {schedule} | "
                f"{best_grid_score(entry, schedule):.1f} | {best_rate(entry, schedule):.2g} | "
                + " | ".join(cells) + " |"
            )
    lines += ["", "(each cell: regret (median suggested rate))", "", "| rule | schedule | median regret | worst |",
              "|---|---|---:|---:|"]
    for rule in RULES:
        for schedule in SCHEDULES + ("all",):
            values = (
                sum(collected[rule].values(), []) if schedule == "all" else collected[rule][schedule]
            )
            if values:
                lines.append(
                    f"| {rule} | {schedule} | {statistics.median(values):.2f} | {max(values):.2f} |"
                )
    return "\n".join(lines), collected


def bar_chart(results: dict[str, Any], half: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    problems = [p for p in PROBLEMS if (half == "all" or p.half == half) and "verify" in results.get(p.name, {})]
    figure, axes = plt.subplots(1, len(SCHEDULES), figsize=(15, 4.5), sharey=True)
    width = 0.8 / len(RULES)
    positions = np.arange(len(problems))
    for ax, schedule in zip(axes, SCHEDULES, strict=True):
        for index, rule in enumerate(RULES):
            values = [max(regret(results[p.name], rule, schedule), 0.0) for p in problems]
            ax.bar(positions + index * width, values, width, label=rule)
        ax.set_title(f"{schedule} ({half} half)")
        ax.set_xticks(positions + 0.4 - width / 2, [p.name for p in problems], rotation=45, ha="right")
        ax.axhline(2.0, color="grey", linewidth=0.8, linestyle="--")
        ax.set_yscale("symlog", linthresh=2.0)
    axes[0].set_ylabel("regret (points, symlog)")
    axes[0].legend()
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=90)
    plt.close(figure)


def command_report(args: argparse.Namespace) -> None:
    results = load(args.results)
    halves = ("design", "report") if args.half == "all" else (args.half,)
    for half in halves:
        text, _ = report_tables(results, half)
        print(text)
        print()
    if "report" in halves:
        chart = args.results.with_name("lr_panel_regret.png")
        bar_chart(results, "report", chart)
        print(f"bar chart: {chart}")
    seconds = [results[p]["seconds"] for p in results if "seconds" in results[p]]
    if seconds:
        print(f"grid: {sum(s['runs'] for s in seconds)} training runs in {sum(s['grid'] for s in seconds):.0f} s; "
              f"range tests {sum(s['range_tests'] for s in seconds):.0f} s")


def command_budget(args: argparse.Namespace) -> None:
    from _panel_budget import main as budget_main

    budget_main(args)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", nargs="?", default="all",
                        choices=("all", "grid", "verify", "refine", "design", "design-refine", "report", "budget"))
    parser.add_argument("--problems", help="comma-separated problem names (default: all)")
    parser.add_argument("--half", default="all", choices=("all", "design", "report"))
    parser.add_argument("--results", type=Path, default=DEFAULT_RESULTS, help="the JSON cache")
    parser.add_argument("--force", action="store_true", help="recompute cached entries")
    parser.add_argument("--reverify", action="store_true", help="refine: retrain the refine rule's runs only")
    parser.add_argument("--budget-seeds", type=int, default=3, help="budget: seeds per problem")
    parser.add_argument("--budget-epochs", type=int, default=2, help="budget: epochs of a random-search trial")
    parser.add_argument("--no-train", action="store_true", help="budget: only print the cached results")
    args = parser.parse_args(argv)
    if args.command in ("all", "grid"):
        command_grid(args)
    if args.command in ("all", "verify"):
        command_verify(args)
    if args.command in ("all", "refine"):
        command_refine(args)
    if args.command == "design":
        command_design(args)
    if args.command == "design-refine":
        command_design_refine(args)
    if args.command in ("all", "report"):
        command_report(args)
    if args.command == "budget":
        command_budget(args)


if __name__ == "__main__":
    main()
