"""Accuracy against sparsity on scikit-learn's digits: gradual pruning, one-shot pruning + fine-tuning, and
PyTorch's `torch.nn.utils.prune` (global unstructured + the same fine-tuning), on the same architectures and data;
then the inference time of `shrink(model)` after unit pruning against the dense model.

    KERAS_BACKEND=tensorflow python benchmarks/pruning.py --plot docs/pruning.png
    KERAS_BACKEND=jax python benchmarks/pruning.py --only-mlp-90      # the 90 % MLP row, on another backend

Every run of a (model, seed) starts from one dense model trained for --pretrain epochs; each method then trains
--finetune more epochs from it (Adam, the same rate, batch 64):

* dense: no pruning (the reference);
* gradual: MagnitudePruning(PolynomialDecaySparsity(0 -> s), scope="global") over the first two thirds of the
  fine-tuning epochs (--scope layer: every kernel at s, the 10-unit output layer included, which costs accuracy
  at 90 % and beyond);
* one-shot: prune(model, s, scope="global") then fine-tuning with the masks held;
* torch one-shot: the same architecture in plain PyTorch (its own dense training, same epochs, data, batch size
  and rate), `prune.global_unstructured(L1Unstructured, amount=s)` then the same fine-tuning epochs.

Accuracy is on the 360 held-out digits, the mean over --seeds seeds. Only the chosen kernels are pruned (biases
are not), in both libraries.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import keras
import numpy as np

from keras_optkit.callbacks import MagnitudePruning
from keras_optkit.demo import load_digits_split
from keras_optkit.pruning import (
    PolynomialDecaySparsity,
    prune,
    shrink,
    sparsity_report,
    strip_pruning,
)

BATCH, RATE = 64, 2e-3
SPARSITIES = (0.0, 0.5, 0.8, 0.9, 0.95)


def keras_model(kind: str, seed: int) -> keras.Model:
    keras.utils.set_random_seed(seed)
    if kind == "mlp":
        layers = [keras.Input((64,)), keras.layers.Dense(256, activation="relu", name="hidden1"),
                  keras.layers.Dense(128, activation="relu", name="hidden2"), keras.layers.Dense(10, name="out")]
    else:
        layers = [keras.Input((8, 8, 1)), keras.layers.Conv2D(16, 3, activation="relu"),
                  keras.layers.Conv2D(32, 3, activation="relu"), keras.layers.Flatten(), keras.layers.Dense(10)]
    model = keras.Sequential(layers)
    compile_model(model)
    return model


def compile_model(model: keras.Model) -> None:
    model.compile(keras.optimizers.Adam(RATE), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])


def shaped(kind: str, x: np.ndarray) -> np.ndarray:
    return x.reshape(-1, 8, 8, 1) if kind == "cnn" else x


def copy_of(model: keras.Model) -> keras.Model:
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    compile_model(copy)
    return copy


def run_keras(kind, seed, sparsities, data, pretrain, finetune, scope="global"):
    x, y, x_val, y_val = data
    x, x_val = shaped(kind, x), shaped(kind, x_val)
    dense = keras_model(kind, seed)
    dense.fit(x, y, batch_size=BATCH, epochs=pretrain, verbose=0)
    steps = int(np.ceil(len(x) / BATCH))
    results = {}
    for sparsity in sparsities:
        row = {}
        if sparsity == 0.0:
            model = copy_of(dense)
            model.fit(x, y, batch_size=BATCH, epochs=finetune, verbose=0)
            row["dense"] = model.evaluate(x_val, y_val, verbose=0)[1]
            results[sparsity] = row
            continue
        gradual = copy_of(dense)
        end = max(2 * finetune // 3, 1) * steps
        schedule = PolynomialDecaySparsity(0.0, sparsity, begin_step=0, end_step=end, frequency=max(end // 10, 1))
        # The fine-tuning counts its steps from 0: the copy's optimizer is fresh.
        gradual.fit(x, y, batch_size=BATCH, epochs=finetune, verbose=0,
                    callbacks=[MagnitudePruning(schedule, scope=scope)])
        row["gradual"] = gradual.evaluate(x_val, y_val, verbose=0)[1]
        row["gradual_zeros"] = sparsity_report(strip_pruning(gradual))["total"]["sparsity"]
        oneshot = prune(copy_of(dense), sparsity, scope="global")
        oneshot.fit(x, y, batch_size=BATCH, epochs=finetune, verbose=0)
        row["one-shot"] = oneshot.evaluate(x_val, y_val, verbose=0)[1]
        results[sparsity] = row
    return results


def run_torch(kind, seed, sparsities, data, pretrain, finetune):
    import torch
    from torch import nn
    from torch.nn.utils import prune as torch_prune

    x, y, x_val, y_val = data
    torch.manual_seed(seed)

    def build():
        if kind == "mlp":
            return nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 10))
        return nn.Sequential(nn.Unflatten(1, (1, 8, 8)), nn.Conv2d(1, 16, 3), nn.ReLU(), nn.Conv2d(16, 32, 3),
                             nn.ReLU(), nn.Flatten(), nn.Linear(32 * 4 * 4, 10))

    features, labels = torch.tensor(x), torch.tensor(y, dtype=torch.long)
    val_features, val_labels = torch.tensor(x_val), torch.tensor(y_val, dtype=torch.long)
    generator = torch.Generator().manual_seed(seed)

    def train(model, epochs, optimizer):
        loss_fn = nn.CrossEntropyLoss()
        for _ in range(epochs):
            order = torch.randperm(len(features), generator=generator)
            for start in range(0, len(order), BATCH):
                batch = order[start:start + BATCH]
                optimizer.zero_grad()
                loss_fn(model(features[batch]), labels[batch]).backward()
                optimizer.step()

    def accuracy(model):
        with torch.no_grad():
            return float((model(val_features).argmax(1) == val_labels).float().mean())

    dense = build()
    train(dense, pretrain, torch.optim.Adam(dense.parameters(), lr=RATE))
    results = {}
    for sparsity in sparsities:
        model = build()
        model.load_state_dict(dense.state_dict())
        if sparsity > 0:
            kernels = [(module, "weight") for module in model if isinstance(module, (nn.Linear, nn.Conv2d))]
            torch_prune.global_unstructured(kernels, pruning_method=torch_prune.L1Unstructured, amount=sparsity)
        train(model, finetune, torch.optim.Adam(model.parameters(), lr=RATE))
        results[sparsity] = {"torch one-shot" if sparsity else "torch dense": accuracy(model)}
    return results


def torch_in_a_subprocess(kind, seed, sparsities, args):
    """run_torch in a process of its own: PyTorch's first import segfaults in a process that ran TensorFlow."""
    request = json.dumps({"kind": kind, "seed": seed, "sparsities": list(sparsities), "pretrain": args.pretrain,
                          "finetune": args.finetune})
    done = subprocess.run([sys.executable, __file__, "--torch-worker", request], capture_output=True, text=True,
                          env={**os.environ, "KERAS_BACKEND": "torch"}, check=False)
    if done.returncode:
        raise RuntimeError(f"the torch comparison failed:\n{done.stderr[-3000:]}")
    rows = json.loads(done.stdout.strip().splitlines()[-1])
    return {float(sparsity): row for sparsity, row in rows.items()}


def inference_times(data, seed, pretrain, finetune, repeats=30):
    """Unit-pruned MLP hidden layers, shrunk: the predictions match, the forward pass gets cheaper."""
    x, y, x_val, _ = data
    dense = keras_model("mlp", seed)
    dense.fit(x, y, batch_size=BATCH, epochs=pretrain, verbose=0)
    batch = np.tile(x_val, (12, 1))[:4096]
    rows = []
    for sparsity in (0.0, 0.5, 0.75, 0.9):
        model = copy_of(dense)
        if sparsity:
            steps = int(np.ceil(len(x) / BATCH))
            end = max(2 * finetune // 3, 1) * steps
            schedule = PolynomialDecaySparsity(0.0, sparsity, 0, end, frequency=max(end // 10, 1))
            pruning = MagnitudePruning(schedule, layers="^hidden", structure="unit")
            model.fit(x, y, batch_size=BATCH, epochs=finetune, verbose=0, callbacks=[pruning])
            served = shrink(model)
        else:
            model.fit(x, y, batch_size=BATCH, epochs=finetune, verbose=0)
            served = strip_pruning(model)
        difference = float(np.max(np.abs(served.predict_on_batch(batch) - model.predict_on_batch(batch))))
        times = []
        for _ in range(repeats + 3):
            start = time.perf_counter()
            served.predict_on_batch(batch)
            times.append(time.perf_counter() - start)
        rows.append({"unit sparsity": sparsity, "hidden units": [served.layers[0].units, served.layers[1].units],
                     "parameters": served.count_params(), "ms per 4096": 1000 * float(np.median(times[3:])),
                     "max |difference|": difference})
    return rows


def mean_rows(runs):
    table = {}
    for run in runs:
        for sparsity, row in run.items():
            for key, value in row.items():
                table.setdefault(sparsity, {}).setdefault(key, []).append(value)
    return {s: {k: float(np.mean(v)) for k, v in row.items()} for s, row in table.items()}


def print_table(kind, table, backend, seeds, scope):
    dense = table[0.0]["dense"]
    print(f"\n{kind.upper()} on digits, {backend}, mean of {seeds} seed(s), gradual scope {scope}; dense after the same epochs: "
          f"{dense:.4f} (torch dense: {table[0.0].get('torch dense', float('nan')):.4f})")
    print("| sparsity | gradual | one-shot + fine-tune | torch one-shot + fine-tune | gradual - dense (points) |"
          " stripped kernels zero |")
    print("|---:|---:|---:|---:|---:|---:|")
    for sparsity, row in sorted(table.items()):
        if sparsity == 0.0:
            continue
        print(f"| {sparsity:.0%} | {row['gradual']:.4f} | {row['one-shot']:.4f} | "
              f"{row.get('torch one-shot', float('nan')):.4f} | {100 * (row['gradual'] - dense):+.2f} | "
              f"{row['gradual_zeros']:.2%} |")


def plot(tables, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(tables), figsize=(5.5 * len(tables), 3.8), squeeze=False)
    for ax, (kind, table) in zip(axes[0], tables.items(), strict=True):
        pruned = sorted(s for s in table if s > 0)
        ax.axhline(table[0.0]["dense"], color="gray", linestyle="--", label="dense (Keras)")
        for key, style in (("gradual", "o-"), ("one-shot", "s-"), ("torch one-shot", "^:")):
            label = {"gradual": "gradual (MagnitudePruning)", "one-shot": "one-shot prune + fine-tune",
                     "torch one-shot": "torch global_unstructured + fine-tune"}[key]
            ax.plot([100 * s for s in pruned], [table[s][key] for s in pruned], style, label=label)
        ax.set_title(f"digits {kind.upper()}")
        ax.set_xlabel("sparsity of the kernels (%)")
        ax.set_ylabel("validation accuracy")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize="small", loc="lower left")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    print(f"\nWrote {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--pretrain", type=int, default=15, help="dense epochs before pruning")
    parser.add_argument("--finetune", type=int, default=15, help="epochs of pruning / fine-tuning")
    parser.add_argument("--only-mlp-90", action="store_true", help="only the MLP at 90 %% (Keras methods)")
    parser.add_argument("--no-torch", action="store_true", help="leave out the torch.nn.utils.prune comparison")
    parser.add_argument("--scope", choices=["global", "layer"], default="global", help="of the gradual pruning")
    parser.add_argument("--plot", help="PNG of accuracy against sparsity")
    parser.add_argument("--json", help="write the numbers here")
    parser.add_argument("--torch-worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    data = load_digits_split(seed=0)
    if args.torch_worker:
        request = json.loads(args.torch_worker)
        rows = run_torch(request["kind"], request["seed"], request["sparsities"], data, request["pretrain"],
                         request["finetune"])
        print(json.dumps({str(sparsity): row for sparsity, row in rows.items()}))
        return
    backend = keras.backend.backend()
    started = time.perf_counter()
    kinds = ("mlp",) if args.only_mlp_90 else ("mlp", "cnn")
    sparsities = (0.0, 0.9) if args.only_mlp_90 else SPARSITIES
    tables = {}
    for kind in kinds:
        runs = []
        for seed in range(args.seeds):
            run = run_keras(kind, seed, sparsities, data, args.pretrain, args.finetune, args.scope)
            if not (args.no_torch or args.only_mlp_90):
                for sparsity, row in torch_in_a_subprocess(kind, seed, sparsities, args).items():
                    run[sparsity].update(row)
            runs.append(run)
        tables[kind] = mean_rows(runs)
        print_table(kind, tables[kind], backend, args.seeds, args.scope)
    output = {"backend": backend, "tables": {k: {str(s): r for s, r in t.items()} for k, t in tables.items()}}
    if not args.only_mlp_90:
        rows = inference_times(data, 0, args.pretrain, args.finetune)
        output["inference"] = rows
        print(f"\nshrink() after unit pruning of the MLP's two hidden layers ({backend}, predict_on_batch of 4096 "
              "digits, median of 30):")
        print("| unit sparsity | hidden units | parameters | ms per 4096 | max abs. difference to the pruned model |")
        print("|---:|---:|---:|---:|---:|")
        for row in rows:
            print(f"| {row['unit sparsity']:.0%} | {row['hidden units'][0]}, {row['hidden units'][1]} | "
                  f"{row['parameters']} | {row['ms per 4096']:.2f} | {row['max |difference|']:.1e} |")
    print(f"\n{time.perf_counter() - started:.0f} s")
    if args.plot and len(tables) == 2 and not args.no_torch:
        plot(tables, args.plot)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(output, handle, indent=1)


if __name__ == "__main__":
    main()
