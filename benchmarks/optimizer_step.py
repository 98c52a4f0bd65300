"""Time one ``apply()`` step of every registered optimizer and of Keras's SGD, Adam, AdamW and Lion.

An optimizer step on large tensors is bound by memory traffic, not arithmetic. For each optimizer the script
prints the median step time, its ratio to Keras Adam, the bytes the step must move at least (read the parameter
and the gradient, read and write each slot, write the parameter: ``(3 + 2 * slots) * 4`` bytes per float32
parameter), the time that traffic takes at the measured memory bandwidth (the floor), and time / floor.

Targets (the PASS/MISS column):
  - an optimizer: at most 1.1x Keras Adam's time scaled by traffic, ``(3 + 2 * slots) / 7`` (Adam has 2 slots);
  - a wrapper: at most 15% over the optimizer it wraps (timed in the same run).

Modes: on TensorFlow, graph mode (``tf.function``) and XLA (``jit_compile=True``); on JAX, ``jax.jit`` of
``stateless_apply`` with the buffers donated, as the JAX trainer does; on PyTorch, eager ``apply`` (what
``jit_compile=False`` trains with; Keras's own torch optimizers use fused ``torch._foreach_*`` kernels there).
Run with ``KERAS_BACKEND`` set.

    KERAS_BACKEND=tensorflow python benchmarks/optimizer_step.py
    KERAS_BACKEND=tensorflow python benchmarks/optimizer_step.py --sizes 10M --optimizers Adam,RAdam --repeats 5
    python benchmarks/optimizer_step.py --quick
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import gc
import json
import os
import re
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402

from keras_optkit.optimizers import list_optimizers  # noqa: E402

BYTES_PER_PARAMETER = 4  # float32
ADAM_SLOTS = 2
OPTIMIZER_TARGET = 1.10
WRAPPER_TARGET = 1.15
# Share of the parameters held by each of the benchmark's variables (2-D, 1024 columns: matrix-aware optimizers
# see matrices, as in a real model).
VARIABLE_SHARES = (0.4, 0.3, 0.2, 0.1)
COLUMNS = 1024


# --------------------------------------------------------------------------------------------------------------
# The machine


def cache_bytes() -> dict[str, int]:
    """Total size of each cache level from ``lscpu`` (bytes), e.g. ``{"L1d": 65536, ..., "L3": 33554432}``."""
    try:
        output = subprocess.run(
            ["lscpu", "-B", "-C=NAME,ALL-SIZE"], capture_output=True, text=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return {}
    sizes = {}
    for line in output.splitlines()[1:]:
        fields = line.split()
        if len(fields) == 2 and fields[1].isdigit():
            sizes[fields[0]] = int(fields[1])
    return sizes


def beyond_cache_parameters(caches: dict[str, int]) -> int:
    """A parameter count whose float32 parameters alone fill the caches at least 4 times (and at least 64M)."""
    total_cache = sum(size for name, size in caches.items() if name != "L1i")
    wanted = max(64 * 2**20, 4 * total_cache // BYTES_PER_PARAMETER)
    step = 16 * 2**20
    return -(-wanted // step) * step


def copy_bandwidth(megabytes: int = 256, repeats: int = 5) -> float:
    """Bytes per second of a large ``numpy`` copy (read + write), the best of one thread and all cores."""
    count = megabytes * 2**20 // 4
    source = np.ones(count, dtype=np.float32)
    target = np.empty_like(source)

    def timed(threads: int) -> float:
        chunks = np.array_split(np.arange(count), threads)
        bounds = [(int(c[0]), int(c[-1]) + 1) for c in chunks]

        def copy(bound: tuple[int, int]) -> None:
            np.copyto(target[bound[0] : bound[1]], source[bound[0] : bound[1]])

        best = float("inf")
        for _ in range(repeats):
            workers = [threading.Thread(target=copy, args=(bound,)) for bound in bounds]
            start = time.perf_counter()
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join()
            best = min(best, time.perf_counter() - start)
        return 2 * source.nbytes / best

    return max(timed(1), timed(os.cpu_count() or 1))


# --------------------------------------------------------------------------------------------------------------
# The optimizers


@dataclasses.dataclass
class Candidate:
    label: str
    make: Callable[[], keras.optimizers.Optimizer]
    slots: int  # per-parameter slot tensors, a wrapper's inner ones included
    wraps: str | None = None  # label of the wrapped optimizer


KERAS_BASELINES = {
    "keras.SGD": (lambda: keras.optimizers.SGD(learning_rate=0.01, momentum=0.9), 1),
    "keras.Adam": (lambda: keras.optimizers.Adam(learning_rate=1e-3), 2),
    "keras.AdamW": (lambda: keras.optimizers.AdamW(learning_rate=1e-3), 2),
    "keras.Lion": (lambda: keras.optimizers.Lion(learning_rate=1e-4), 1),
}


def _label(optimizer: keras.optimizers.Optimizer) -> str:
    cls = type(optimizer)
    return f"keras.{cls.__name__}" if cls.__module__.startswith("keras.") else cls.__name__


def _slots_of(optimizer: keras.optimizers.Optimizer) -> int:
    """Slots from the registry's flag (or the baselines' table), a wrapper's inner slots added."""
    label = _label(optimizer)
    if label in KERAS_BASELINES:
        return KERAS_BASELINES[label][1]
    flags = {entry.name: entry.flags for entry in list_optimizers()}.get(label)
    if flags is None:
        raise ValueError(
            f"No slot count known for {label}: register it or add it to KERAS_BASELINES."
        )
    slots = int(flags.get("slots", 0))
    if flags.get("wrapper"):
        slots += _slots_of(optimizer.inner_optimizer)
    return slots


def candidates(selected: list[str] | None) -> list[Candidate]:
    """The baselines and every registered optimizer (or the ``selected`` labels), wrapped ones added."""
    found: dict[str, Candidate] = {}
    for label, (make, slots) in KERAS_BASELINES.items():
        found[label] = Candidate(label, make, slots)
    for entry in list_optimizers():
        sample = entry.build()
        wraps = _label(sample.inner_optimizer) if entry.flags.get("wrapper") else None
        found[entry.name] = Candidate(entry.name, entry.build, _slots_of(sample), wraps)
        if wraps and wraps not in found:
            inner = sample.inner_optimizer
            rebuild = functools.partial(type(inner).from_config, inner.get_config())
            found[wraps] = Candidate(wraps, rebuild, _slots_of(inner))
    if not selected:
        return list(found.values())
    wanted = {name.lower().removeprefix("keras.") for name in selected}
    chosen = [c for c in found.values() if c.label.lower().removeprefix("keras.") in wanted]
    unknown = wanted - {c.label.lower().removeprefix("keras.") for c in chosen}
    if unknown:
        raise SystemExit(f"Unknown optimizer(s): {sorted(unknown)}. Known: {', '.join(found)}")
    # Adam is the yardstick and a wrapper needs the optimizer it wraps.
    labels = {c.label for c in chosen} | {"keras.Adam"} | {c.wraps for c in chosen if c.wraps}
    return [c for c in found.values() if c.label in labels]


# --------------------------------------------------------------------------------------------------------------
# Timing


def shapes_for(parameters: int) -> list[tuple[int, int]]:
    rows = max(len(VARIABLE_SHARES), parameters // COLUMNS)
    return [(max(1, round(share * rows)), COLUMNS) for share in VARIABLE_SHARES]


def measured_slots(optimizer: keras.optimizers.Optimizer, variables: list) -> float:
    """Optimizer variables as large as the parameters, per parameter (what the optimizer actually allocated)."""
    big = sum(
        int(np.prod(v.shape))
        for v in optimizer.variables
        if len(v.shape) and np.prod(v.shape) > 1024
    )
    return big / sum(int(np.prod(v.shape)) for v in variables)


def time_tensorflow(
    candidate: Candidate, initial: list[np.ndarray], grads: list, xla: bool, repeats: int
):
    import tensorflow as tf

    optimizer = candidate.make()
    variables = [keras.Variable(value) for value in initial]
    optimizer.build(variables)

    @tf.function(jit_compile=xla)
    def step(step_grads):
        optimizer.apply(step_grads, variables)
        return optimizer.iterations

    times = []
    for index in range(repeats + 2):  # the first two calls trace, compile and warm up
        start = time.perf_counter()
        step(grads).numpy()
        if index >= 2:
            times.append(time.perf_counter() - start)
    return times, measured_slots(optimizer, variables)


def time_jax(candidate: Candidate, initial: list[np.ndarray], grads: list, repeats: int):
    import jax

    optimizer = candidate.make()
    variables = [keras.Variable(value) for value in initial]
    optimizer.build(variables)
    slots = measured_slots(optimizer, variables)

    def apply(optimizer_values, values, step_grads):
        new_values, new_optimizer_values = optimizer.stateless_apply(
            optimizer_values, step_grads, values
        )
        return new_optimizer_values, new_values

    step = jax.jit(apply, donate_argnums=(0, 1))
    optimizer_values = [v.value for v in optimizer.variables]
    values = [v.value for v in variables]
    del variables
    times = []
    for index in range(repeats + 2):
        start = time.perf_counter()
        optimizer_values, values = step(optimizer_values, values, grads)
        jax.block_until_ready(values)
        if index >= 2:
            times.append(time.perf_counter() - start)
    return times, slots


def time_torch(candidate: Candidate, initial: list[np.ndarray], grads: list, repeats: int):
    import torch

    optimizer = candidate.make()
    variables = [keras.Variable(value) for value in initial]
    optimizer.build(variables)
    synchronize = torch.cuda.synchronize if torch.cuda.is_available() else (lambda: None)
    times = []
    for index in range(repeats + 2):  # eager: the first calls allocate and warm the caches
        start = time.perf_counter()
        optimizer.apply(grads, variables)
        synchronize()
        if index >= 2:
            times.append(time.perf_counter() - start)
    return times, measured_slots(optimizer, variables)


@dataclasses.dataclass
class Row:
    label: str
    mode: str
    parameters: int
    slots: int
    measured_slots: float | None = None
    seconds: float | None = None
    error: str | None = None
    wraps: str | None = None
    fastest: float | None = None


_ROW = "ROW "


def measure(candidate: Candidate, parameters: int, repeats: int) -> list[Row]:
    """Times one optimizer at one size in every mode of the backend (runs in a worker process)."""
    backend = keras.backend.backend()
    if backend not in ("tensorflow", "jax", "torch"):
        raise SystemExit(f"Backend {backend!r} is not supported: use tensorflow, jax or torch.")
    modes = {"tensorflow": ["graph", "xla"], "jax": ["jax-jit"], "torch": ["torch-eager"]}[backend]
    shapes = shapes_for(parameters)
    rng = np.random.default_rng(0)
    initial = [rng.standard_normal(shape, dtype=np.float32) for shape in shapes]
    grads = [
        keras.ops.convert_to_tensor(1e-3 * rng.standard_normal(shape, dtype=np.float32))
        for shape in shapes
    ]
    count = sum(int(np.prod(shape)) for shape in shapes)
    rows = []
    for mode in modes:
        row = Row(candidate.label, mode, count, candidate.slots, wraps=candidate.wraps)
        try:
            if backend == "tensorflow":
                times, row.measured_slots = time_tensorflow(
                    candidate, initial, grads, mode == "xla", repeats
                )
            elif backend == "jax":
                times, row.measured_slots = time_jax(candidate, initial, grads, repeats)
            else:
                times, row.measured_slots = time_torch(candidate, initial, grads, repeats)
            row.seconds = statistics.median(times)
            row.fastest = min(times)
        except Exception as error:  # noqa: BLE001 - one broken optimizer must not end the run
            row.error = f"{type(error).__name__}: {str(error).splitlines()[0][:80]}"
        rows.append(row)
        gc.collect()
    return rows


def run(candidate_list: list[Candidate], sizes: list[int], repeats: int) -> list[Row]:
    """Measures each optimizer in a fresh process (all sizes and modes), printing progress to stderr.

    A fresh process per optimizer keeps its numbers independent of what ran before and bounds memory: TF keeps
    some buffers of a finished ``tf.function`` (about one parameter-sized tensor per measurement), which at 64M
    parameters fills the memory of a small machine within one run of every optimizer.
    """
    rows = []
    size_list = ",".join(str(size) for size in sizes)
    for candidate in candidate_list:
        command = [sys.executable, __file__, "--worker", candidate.label, "--sizes", size_list]
        command += ["--repeats", str(repeats)]
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        found = []
        for line in process.stdout:
            if line.startswith(_ROW):
                row = Row(**json.loads(line[len(_ROW) :]))
                timing = f"{row.seconds * 1e3:9.2f} ms" if row.seconds else row.error
                print(
                    f"  {row.mode:8s} {row.parameters / 2**20:6.1f}M {row.label:26s} {timing}",
                    file=sys.stderr,
                    flush=True,
                )
                found.append(row)
        error_output = process.stderr.read()
        if process.wait() != 0:
            last = (error_output.strip().splitlines() or ["no output"])[-1][:80]
            reason = "killed (out of memory?)" if process.returncode < 0 else last
            print(
                f"  {candidate.label}: worker exit {process.returncode}: {reason}", file=sys.stderr
            )
            done = {row.parameters for row in found}
            found += [
                Row(
                    candidate.label, "-", size, candidate.slots, error=reason, wraps=candidate.wraps
                )
                for size in sizes
                if size not in done
            ]
        rows.extend(found)
    return rows


def worker(label: str, sizes: list[int], repeats: int) -> None:
    """The worker process: times one optimizer at every size and prints one ``ROW`` line per measurement."""
    candidate = {c.label: c for c in candidates(None)}[label]
    for parameters in sizes:
        for row in measure(candidate, parameters, repeats):
            print(_ROW + json.dumps(dataclasses.asdict(row)), flush=True)


# --------------------------------------------------------------------------------------------------------------
# Report


def traffic_bytes(parameters: int, slots: int) -> int:
    return (3 + 2 * slots) * BYTES_PER_PARAMETER * parameters


def table(rows: list[Row], bandwidth: float) -> str:
    lines = []
    groups = sorted({(row.mode, row.parameters) for row in rows}, key=lambda g: (g[1], g[0]))
    for mode, parameters in groups:
        group = [row for row in rows if row.mode == mode and row.parameters == parameters]
        by_label = {row.label: row for row in group}
        adam = by_label.get("keras.Adam")
        adam_seconds = adam.seconds if adam else None
        lines.append(
            f"\n{mode}, {parameters / 2**20:.1f}M float32 parameters in {len(VARIABLE_SHARES)} variables\n"
        )
        lines.append(
            "| optimizer | slots | ms/step | min ms | vs Adam | MB/step | floor ms | time/floor | target ms | result |"
        )
        lines.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
        for row in sorted(group, key=lambda r: (r.seconds is None, r.seconds or 0.0)):
            slots = f"{row.slots}"
            if row.measured_slots is not None and abs(row.measured_slots - row.slots) > 0.01:
                slots += f" (has {row.measured_slots:g})"
            if row.seconds is None:
                lines.append(f"| {row.label} | {slots} | error | | | | | | | {row.error} |")
                continue
            moved = traffic_bytes(row.parameters, row.slots)
            floor = moved / bandwidth
            ratio = f"{row.seconds / adam_seconds:.2f}" if adam_seconds else "-"
            if row.wraps:
                inner = by_label.get(row.wraps)
                target = WRAPPER_TARGET * inner.seconds if inner and inner.seconds else None
                target_note = f" (+15% over {row.wraps})"
            else:
                scale = (3 + 2 * row.slots) / (3 + 2 * ADAM_SLOTS)
                target = OPTIMIZER_TARGET * adam_seconds * scale if adam_seconds else None
                target_note = ""
            result = "-" if target is None else ("PASS" if row.seconds <= target else "MISS")
            target_text = "-" if target is None else f"{target * 1e3:.1f}{target_note}"
            lines.append(
                f"| {row.label} | {slots} | {row.seconds * 1e3:.1f} | {row.fastest * 1e3:.1f} | {ratio} | {moved / 1e6:.0f} | "
                f"{floor * 1e3:.1f} | {row.seconds / floor:.2f} | {target_text} | {result} |"
            )
    return "\n".join(lines)


def parse_size(text: str, caches: dict[str, int]) -> int:
    if text.lower() == "beyond-cache":
        return beyond_cache_parameters(caches)
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([kKmMgG]?)", text.strip())
    if not match:
        raise argparse.ArgumentTypeError(
            f"Not a size: {text!r} (e.g. 10M, 64M, 500k, beyond-cache)"
        )
    factor = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30}[match.group(2).lower()]
    return int(float(match.group(1)) * factor)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes",
        default="10M,beyond-cache",
        help="comma-separated parameter counts: 10M,64M,...; "
        "'beyond-cache' is at least 4x the CPU caches from lscpu (default: %(default)s)",
    )
    parser.add_argument(
        "--repeats", type=int, default=10, help="timed steps per optimizer (default: %(default)s)"
    )
    parser.add_argument(
        "--optimizers", default="", help="comma-separated subset, e.g. Adam,RAdam,Lookahead"
    )
    parser.add_argument(
        "--quick", action="store_true", help="1M parameters, 3 repeats: a smoke test"
    )
    parser.add_argument(
        "--worker", help=argparse.SUPPRESS
    )  # internal: time one optimizer, print rows
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.worker, [int(size) for size in args.sizes.split(",")], args.repeats)
        return

    caches = cache_bytes()
    sizes = [parse_size(s, caches) for s in ("1M" if args.quick else args.sizes).split(",")]
    repeats = 3 if args.quick else args.repeats
    selected = [name.strip() for name in args.optimizers.split(",") if name.strip()] or None
    candidate_list = candidates(selected)

    bandwidth = copy_bandwidth()
    cache_text = (
        ", ".join(f"{name} {size / 2**20:g} MiB" for name, size in caches.items()) or "unknown"
    )
    print(f"backend {keras.backend.backend()}, keras {keras.__version__}, {os.cpu_count()} CPUs")
    print(f"caches (lscpu, total): {cache_text}")
    print(f"memory bandwidth (numpy copy, read + write): {bandwidth / 1e9:.1f} GB/s")
    print(f"median of {repeats} steps after 2 warm-up steps")
    rows = run(candidate_list, sizes, repeats)
    print(table(rows, bandwidth))


if __name__ == "__main__":
    main()
