"""Does narrowing the learning-rate range with the LR finder make a search cheaper?

For several seeds, on scikit-learn's digits (a small MLP), two random searches with the same number of trials and
epochs per trial:

* blind: a wide learning-rate range, 1e-6 .. 10 for every optimizer family (``--range``), what a user who does
  not know the right rate would search;
* narrowed: the same range given to ``tune(narrow_lr_with_finder=True)``: one LR range test per optimizer family
  first, then each family's range is 30x wide around the finder's ``valley`` suggestion.

For each seed it reports the best validation accuracy of each search, and the epochs each search spent until a
trial first reached the blind search's best accuracy (minus ``--tolerance``). The narrowed search's epochs include
the range tests, counted as (finder steps / steps per epoch) epochs each.

    KERAS_BACKEND=tensorflow python benchmarks/tuning_search.py            # 5 seeds, 8 trials x 6 epochs
    KERAS_BACKEND=jax python benchmarks/tuning_search.py --seeds 3 --trials 6
"""

from __future__ import annotations

import argparse
import math
import statistics
import tempfile
import time

import keras

from keras_optkit.demo import load_digits_split
from keras_optkit.tuner import SearchSpace, tune

BATCH_SIZE = 32


def build_model() -> keras.Model:
    return keras.Sequential(
        [
            keras.Input(shape=(64,)),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )


def search(data, seed: int, trials: int, epochs: int, narrowed: bool, rates: tuple[float, float],
           finder_steps: int = 100, span: float = 30.0):
    x, y, x_val, y_val = data
    with tempfile.TemporaryDirectory() as directory:
        result = tune(
            build_model, x, y, validation_data=(x_val, y_val), tuner="random", max_trials=trials,
            epochs=epochs, batch_size=BATCH_SIZE, objective="val_accuracy",
            loss="sparse_categorical_crossentropy", metrics=["accuracy"],
            search_space=SearchSpace(learning_rate=rates), narrow_lr_with_finder=narrowed, finder_steps=finder_steps,
            finder_span=span,
            directory=directory, seed=seed,
        )
        order = sorted(result.table(), key=lambda row: int(row["trial_id"]))
        scores = [row["score"] if row["score"] is not None else 0.0 for row in order]
        finder_runs = len(result.finder_results)
    return scores, finder_runs


def epochs_to_reach(scores: list[float], target: float, epochs: int, head_start: float) -> float:
    spent = head_start
    for score in scores:
        spent += epochs
        if score >= target:
            return spent
    return math.inf


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--tolerance", type=float, default=0.005)
    parser.add_argument("--range", default="1e-6,10", help="the blind learning-rate range low,high")
    parser.add_argument("--finder-steps", type=int, default=100, help="steps of each range test")
    parser.add_argument("--span", type=float, default=30.0, help="high / low of a narrowed range")
    args = parser.parse_args(argv)

    rates = tuple(float(v) for v in args.range.split(","))
    data = load_digits_split(seed=0)
    steps_per_epoch = math.ceil(len(data[0]) / BATCH_SIZE)
    print(f"backend {keras.backend.backend()}, digits {len(data[0])} train / {len(data[2])} validation, "
          f"{args.trials} trials x {args.epochs} epochs, random search, learning rates {rates[0]:g}..{rates[1]:g}, "
          f"finder {args.finder_steps} steps, span {args.span:g}, tolerance {args.tolerance}")
    print("| seed | blind best | narrowed best | blind epochs to blind best | narrowed epochs (incl. finder) |"
          " seconds blind / narrowed |")
    print("|---:|---:|---:|---:|---:|---:|")
    blind_epochs, narrowed_epochs, blind_best, narrowed_best = [], [], [], []
    for seed in range(args.seeds):
        start = time.perf_counter()
        blind, _ = search(data, seed, args.trials, args.epochs, narrowed=False, rates=rates)
        middle = time.perf_counter()
        narrowed, finder_runs = search(data, seed, args.trials, args.epochs, narrowed=True, rates=rates,
                                       finder_steps=args.finder_steps, span=args.span)
        end = time.perf_counter()
        target = max(blind) - args.tolerance
        finder_epochs = finder_runs * args.finder_steps / steps_per_epoch
        blind_cost = epochs_to_reach(blind, target, args.epochs, 0.0)
        narrowed_cost = epochs_to_reach(narrowed, target, args.epochs, finder_epochs)
        blind_epochs.append(blind_cost)
        narrowed_epochs.append(narrowed_cost)
        blind_best.append(max(blind))
        narrowed_best.append(max(narrowed))
        print(f"| {seed} | {max(blind):.4f} | {max(narrowed):.4f} | {blind_cost:.0f} | {narrowed_cost:.1f} |"
              f" {middle - start:.0f} / {end - middle:.0f} |", flush=True)
    reached = sum(math.isfinite(cost) for cost in narrowed_epochs)
    print()
    print(f"median best accuracy: blind {statistics.median(blind_best):.4f}, "
          f"narrowed {statistics.median(narrowed_best):.4f}")
    print(f"median epochs to the blind search's best: blind {statistics.median(blind_epochs):.1f}, "
          f"narrowed {statistics.median(narrowed_epochs):.1f} "
          f"(narrowed reached it in {reached} of {args.seeds} seeds)")


if __name__ == "__main__":
    main()
