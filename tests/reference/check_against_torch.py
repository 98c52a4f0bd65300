"""Cross-check the float64 references in ``schedules.py`` against independent implementations.

Not a pytest module (no ``test_`` prefix); run it by hand from the repository root::

    python tests/reference/check_against_torch.py

* With PyTorch importable: ``OneCycleLR``, ``CyclicLR`` (also with a Python
  ``scale_fn``), ``CosineAnnealingWarmRestarts``, ``StepLR``, ``MultiStepLR``
  and ``SequentialLR`` (also ``LinearLR`` warmup in front of ``StepLR`` for
  ``Warmup``), compared at every step from 0 to the last step of each case.
* With Keras importable (TensorFlow backend for float64): ``CosineDecay`` and
  ``ExponentialDecay`` for the ``keras.*`` references, and Keras built-ins that
  express some of our schedules exactly (``WarmupCosineDecay``,
  ``LinearSchedule``, ``NaturalExpDecay``, ``CosineAnnealingWarmRestarts``
  without warmup, the linear/cosine phases of ``WarmupStableDecay``).
* Always: the paper's Transformer formula for ``InverseSqrtDecay`` and a few
  values worked out by hand for the remaining options.

Each part is skipped with a message when its library cannot be imported.
The exit status is 1 when some comparison exceeds its tolerance.
"""

from __future__ import annotations

import math
import os
import sys
import warnings
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[2]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from tests.reference.schedules import (  # noqa: E402
    CASES,
    SCALE_FN_CASES,
    reference_value,
)

RTOL = 1e-12
FAILURES: list[str] = []


def _rel(a: float, b: float) -> float:
    """|a - b| / max(|a|, |b|), 0 when both are 0."""
    scale = max(abs(a), abs(b))
    return 0.0 if scale == 0.0 else abs(a - b) / scale


def _report(label: str, pairs, rtol: float = RTOL) -> float:
    """Print the max relative difference of ``(reference, other)`` pairs; record failures."""
    worst = 0.0
    for ours, theirs in pairs:
        worst = max(worst, _rel(ours, theirs))
    status = "ok" if worst <= rtol else "FAIL"
    print(f"  [{status}] {label}: {len(pairs)} values, max rel diff {worst:.3e}")
    if worst > rtol:
        FAILURES.append(label)
    return worst


def _cases(name, cases=CASES):
    return [(config, steps) for (cls, config, steps) in cases if cls == name]


# ---------------------------------------------------------------------------
# PyTorch
# ---------------------------------------------------------------------------


def _torch_series(torch, make_scheduler, base_lr: float, n_steps: int):
    """Learning rates the optimizer sees for steps 0 .. n_steps - 1."""
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=base_lr, momentum=0.9)
    scheduler = make_scheduler(optimizer)
    values = []
    for _ in range(n_steps):
        values.append(float(optimizer.param_groups[0]["lr"]))
        optimizer.step()
        scheduler.step()
    return values


def check_torch() -> None:
    try:
        import torch
    except ImportError:
        print("PyTorch not importable: skipping the PyTorch comparisons.")
        return
    sched = torch.optim.lr_scheduler
    warnings.filterwarnings("ignore", category=UserWarning)
    print(f"PyTorch {torch.__version__}")

    # OneCycleLR: every step 0 .. total_steps - 1 (PyTorch raises past the end).
    for config, steps in _cases("OneCycle"):
        total = config["total_steps"]

        def make(opt, c=config):
            return sched.OneCycleLR(
                opt,
                max_lr=c["max_learning_rate"],
                total_steps=c["total_steps"],
                pct_start=c.get("pct_start", 0.3),
                anneal_strategy=c.get("anneal_strategy", "cos"),
                cycle_momentum=False,
                div_factor=c.get("div_factor", 25.0),
                final_div_factor=c.get("final_div_factor", 1e4),
                three_phase=c.get("three_phase", False),
            )

        theirs = _torch_series(torch, make, 0.1, total)
        pairs = [(reference_value("OneCycle", config, s), theirs[s]) for s in range(total)]
        # past the end the reference holds at PyTorch's final (min) value
        pairs += [(reference_value("OneCycle", config, s), theirs[-1]) for s in steps if s >= total]
        _report(f"OneCycle vs OneCycleLR {config}", pairs)

    # CyclicLR (built-in modes and Python scale_fn).
    for config, steps in _cases("CyclicalLearningRate") + _cases(
        "CyclicalLearningRate", SCALE_FN_CASES
    ):
        n = max(steps) + 1

        def make(opt, c=config):
            return sched.CyclicLR(
                opt,
                base_lr=c["initial_learning_rate"],
                max_lr=c["maximal_learning_rate"],
                step_size_up=c["step_size"],
                mode=c.get("mode", "triangular"),
                gamma=c.get("gamma", 1.0),
                scale_fn=c.get("scale_fn"),
                scale_mode=c.get("scale_mode", "cycle"),
                cycle_momentum=False,
            )

        theirs = _torch_series(torch, make, config["initial_learning_rate"], n)
        pairs = [(reference_value("CyclicalLearningRate", config, s), theirs[s]) for s in range(n)]
        shown = {k: (v.__name__ if callable(v) else v) for k, v in config.items()}
        _report(f"CyclicalLearningRate vs CyclicLR {shown}", pairs)

    # CosineAnnealingWarmRestarts: configurations PyTorch can express
    # (integer T_mult, no warmup, no peak decay), plus one extra.
    sgdr = [
        (c, s)
        for c, s in _cases("CosineAnnealingWarmRestarts")
        if c.get("warmup_steps", 0) == 0
        and c.get("peak_decay", 1.0) == 1.0
        and float(c.get("cycle_mult", 1.0)).is_integer()
    ]
    sgdr.append(
        (
            {"initial_learning_rate": 0.3, "first_cycle_steps": 7, "cycle_mult": 3,
             "min_learning_rate": 0.01},
            list(range(0, 1200)),
        )
    )
    for config, steps in sgdr:
        n = max(steps) + 1

        def make(opt, c=config):
            return sched.CosineAnnealingWarmRestarts(
                opt,
                T_0=c["first_cycle_steps"],
                T_mult=int(c.get("cycle_mult", 1)),
                eta_min=c.get("min_learning_rate", 0.0),
            )

        theirs = _torch_series(torch, make, config["initial_learning_rate"], n)
        pairs = [
            (reference_value("CosineAnnealingWarmRestarts", config, s), theirs[s])
            for s in range(n)
        ]
        _report(f"CosineAnnealingWarmRestarts vs PyTorch {config}", pairs)

    # StepLR / MultiStepLR.
    for config, steps in _cases("StepDecay"):
        n = max(steps) + 1

        def make(opt, c=config):
            return sched.StepLR(opt, step_size=c["step_size"], gamma=c.get("gamma", 0.1))

        theirs = _torch_series(torch, make, config["initial_learning_rate"], n)
        pairs = [(reference_value("StepDecay", config, s), theirs[s]) for s in range(n)]
        _report(f"StepDecay vs StepLR {config}", pairs)

    for config, steps in _cases("MultiStepDecay"):
        n = max(steps) + 1

        def make(opt, c=config):
            return sched.MultiStepLR(opt, milestones=c["milestones"], gamma=c.get("gamma", 0.1))

        theirs = _torch_series(torch, make, config["initial_learning_rate"], n)
        pairs = [(reference_value("MultiStepDecay", config, s), theirs[s]) for s in range(n)]
        _report(f"MultiStepDecay vs MultiStepLR {config}", pairs)

    # SequentialLR.  All pieces share the optimizer's base lr in PyTorch.
    base = 0.1
    sequential = [
        (
            # the first SequentialSchedule of CASES: constant 0.01 == ConstantLR(factor=0.1)
            {"schedules": [0.01, ("StepDecay", {"initial_learning_rate": 0.1, "step_size": 5,
                                                "gamma": 0.5})],
             "boundaries": [10]},
            lambda opt: sched.SequentialLR(
                opt,
                [sched.ConstantLR(opt, factor=0.1, total_iters=10**9),
                 sched.StepLR(opt, step_size=5, gamma=0.5)],
                milestones=[10],
            ),
            60,
        ),
        (
            {"schedules": [("StepDecay", {"initial_learning_rate": base, "step_size": 3,
                                          "gamma": 0.5}),
                           ("MultiStepDecay", {"initial_learning_rate": base,
                                               "milestones": [2, 5], "gamma": 0.3}),
                           ("StepDecay", {"initial_learning_rate": base, "step_size": 4,
                                          "gamma": 0.8})],
             "boundaries": [7, 15]},
            lambda opt: sched.SequentialLR(
                opt,
                [sched.StepLR(opt, step_size=3, gamma=0.5),
                 sched.MultiStepLR(opt, milestones=[2, 5], gamma=0.3),
                 sched.StepLR(opt, step_size=4, gamma=0.8)],
                milestones=[7, 15],
            ),
            60,
        ),
        (
            {"schedules": [("LinearSchedule", {"initial_learning_rate": 0.01,
                                               "final_learning_rate": base,
                                               "total_steps": 10}),
                           ("MultiStepDecay", {"initial_learning_rate": base,
                                               "milestones": [20, 40]})],
             "boundaries": [12]},
            lambda opt: sched.SequentialLR(
                opt,
                [sched.LinearLR(opt, start_factor=0.1, end_factor=1.0, total_iters=10),
                 sched.MultiStepLR(opt, milestones=[20, 40], gamma=0.1)],
                milestones=[12],
            ),
            80,
        ),
    ]
    for config, make, n in sequential:
        theirs = _torch_series(torch, make, base, n)
        pairs = [(reference_value("SequentialSchedule", config, s), theirs[s]) for s in range(n)]
        _report(f"SequentialSchedule vs SequentialLR {config}", pairs)

    # Warmup(linear, initial > 0) in front of StepDecay == SequentialLR(LinearLR, StepLR).
    config = {"schedule": ("StepDecay", {"initial_learning_rate": base, "step_size": 10,
                                         "gamma": 0.5}),
              "warmup_steps": 8, "initial_learning_rate": 0.002, "shape": "linear"}

    def make_warmup(opt):
        return sched.SequentialLR(
            opt,
            [sched.LinearLR(opt, start_factor=0.02, end_factor=1.0, total_iters=8),
             sched.StepLR(opt, step_size=10, gamma=0.5)],
            milestones=[8],
        )

    theirs = _torch_series(torch, make_warmup, base, 60)
    pairs = [(reference_value("Warmup", config, s), theirs[s]) for s in range(60)]
    _report(f"Warmup vs SequentialLR(LinearLR, StepLR) {config}", pairs)


# ---------------------------------------------------------------------------
# Keras
# ---------------------------------------------------------------------------


def check_keras() -> None:
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        import keras
        import numpy as np
    except ImportError:
        print("Keras not importable: skipping the Keras comparisons.")
        return
    keras.config.set_floatx("float64")
    ks = keras.optimizers.schedules
    f64 = np.float64
    probe = ks.ExponentialDecay(f64(1.0), 1, f64(0.5))(np.int64(1))
    dtype = str(getattr(probe, "dtype", type(probe)))
    print(f"Keras {keras.__version__}, backend {keras.backend.backend()}, schedule dtype {dtype}")
    # float64 parameters give float64 results on the TensorFlow backend; other
    # backends compute in float32.
    rtol = RTOL if "float64" in dtype else 2e-6

    def values(schedule, steps):
        return [float(schedule(np.int64(s))) for s in steps]

    def dense(steps, limit=2000):
        return sorted(set(steps) | set(range(min(max(steps), limit) + 1)))

    # keras.CosineDecay / keras.ExponentialDecay references.
    for config, steps in _cases("keras.CosineDecay"):
        target = config.get("warmup_target")
        obj = ks.CosineDecay(
            f64(config["initial_learning_rate"]),
            config["decay_steps"],
            alpha=f64(config.get("alpha", 0.0)),
            warmup_target=None if target is None else f64(target),
            warmup_steps=config.get("warmup_steps", 0),
        )
        grid = dense(steps)
        pairs = list(zip([reference_value("keras.CosineDecay", config, s) for s in grid],
                         values(obj, grid), strict=True))
        _report(f"keras.CosineDecay reference vs Keras {config}", pairs, rtol)
    # warmup_target=None with warmup_steps > 0: no warmup at all.
    config = {"initial_learning_rate": 0.1, "decay_steps": 100, "warmup_steps": 10}
    obj = ks.CosineDecay(f64(0.1), 100, warmup_steps=10)
    grid = list(range(0, 130))
    pairs = list(zip([reference_value("keras.CosineDecay", config, s) for s in grid],
                     values(obj, grid), strict=True))
    _report(f"keras.CosineDecay reference vs Keras {config}", pairs, rtol)

    for config, steps in _cases("keras.ExponentialDecay"):
        obj = ks.ExponentialDecay(
            f64(config["initial_learning_rate"]),
            config["decay_steps"],
            f64(config["decay_rate"]),
            staircase=config.get("staircase", False),
        )
        grid = dense(steps)
        pairs = list(zip([reference_value("keras.ExponentialDecay", config, s) for s in grid],
                         values(obj, grid), strict=True))
        _report(f"keras.ExponentialDecay reference vs Keras {config}", pairs, rtol)

    # WarmupCosineDecay == CosineDecay(initial, total - warmup, alpha=final/peak,
    #                                  warmup_target=peak, warmup_steps=warmup)
    for config, steps in _cases("WarmupCosineDecay"):
        peak = config["peak_learning_rate"]
        total = config["total_steps"]
        warm = config.get("warmup_steps", 0)
        if total == warm:
            continue  # Keras would divide by decay_steps == 0
        obj = ks.CosineDecay(
            f64(config.get("initial_learning_rate", 0.0)),
            total - warm,
            alpha=f64(config.get("final_learning_rate", 0.0) / peak),
            warmup_target=f64(peak),
            warmup_steps=warm,
        )
        grid = dense(steps)
        pairs = list(zip([reference_value("WarmupCosineDecay", config, s) for s in grid],
                         values(obj, grid), strict=True))
        _report(f"WarmupCosineDecay vs keras CosineDecay {config}", pairs, max(rtol, 1e-12))

    # LinearSchedule == PolynomialDecay(power=1).
    for config, steps in _cases("LinearSchedule"):
        obj = ks.PolynomialDecay(
            f64(config["initial_learning_rate"]),
            config["total_steps"],
            end_learning_rate=f64(config["final_learning_rate"]),
            power=f64(1.0),
        )
        grid = dense(steps)
        pairs = list(zip([reference_value("LinearSchedule", config, s) for s in grid],
                         values(obj, grid), strict=True))
        _report(f"LinearSchedule vs keras PolynomialDecay {config}", pairs, rtol)

    # NaturalExpDecay == ExponentialDecay(decay_rate=exp(-rate)).
    for config, steps in _cases("NaturalExpDecay"):
        obj = ks.ExponentialDecay(
            f64(config["initial_learning_rate"]),
            config.get("decay_steps", 1),
            f64(math.exp(-config["decay_rate"])),
            staircase=config.get("staircase", False),
        )
        grid = dense(steps)
        pairs = list(zip([reference_value("NaturalExpDecay", config, s) for s in grid],
                         values(obj, grid), strict=True))
        # exp(-r)**p vs exp(-r*p): a few ulps times |r * p|
        _report(f"NaturalExpDecay vs keras ExponentialDecay {config}", pairs, max(rtol, 1e-13))

    # CosineAnnealingWarmRestarts (no warmup) == CosineDecayRestarts(t_mul=cycle_mult,
    # m_mul=peak_decay, alpha=min/initial) when min is 0 or the peak does not decay.
    for config, steps in _cases("CosineAnnealingWarmRestarts"):
        low = config.get("min_learning_rate", 0.0)
        decay = config.get("peak_decay", 1.0)
        if config.get("warmup_steps", 0) != 0 or (low != 0.0 and decay != 1.0):
            continue
        obj = ks.CosineDecayRestarts(
            f64(config["initial_learning_rate"]),
            config["first_cycle_steps"],
            t_mul=f64(config.get("cycle_mult", 1.0)),
            m_mul=f64(decay),
            alpha=f64(low / config["initial_learning_rate"]),
        )
        grid = dense(steps)
        pairs = list(zip([reference_value("CosineAnnealingWarmRestarts", config, s)
                          for s in grid], values(obj, grid), strict=True))
        _report(f"CosineAnnealingWarmRestarts vs keras CosineDecayRestarts {config}", pairs,
                max(rtol, 1e-12))

    # WarmupStableDecay phases: warmup == PolynomialDecay(0 -> peak), linear decay ==
    # PolynomialDecay(peak -> final), cosine decay == CosineDecay(alpha=final/peak).
    for config, steps in _cases("WarmupStableDecay"):
        peak = config["peak_learning_rate"]
        final = config.get("final_learning_rate", 0.0)
        total = config["total_steps"]
        warm = config["warmup_steps"]
        decay = config["decay_steps"]
        start = total - decay
        shape = config.get("decay_shape", "linear")
        pairs = []
        if warm > 0:
            up = ks.PolynomialDecay(f64(0.0), warm, end_learning_rate=f64(peak), power=f64(1.0))
            for s in range(warm):
                pairs.append((reference_value("WarmupStableDecay", config, s),
                              float(up(np.int64(s)))))
        for s in range(warm, start):
            pairs.append((reference_value("WarmupStableDecay", config, s), peak))
        if shape == "linear":
            down = ks.PolynomialDecay(f64(peak), decay, end_learning_rate=f64(final),
                                      power=f64(1.0))
        elif shape == "cosine":
            down = ks.CosineDecay(f64(peak), decay, alpha=f64(final / peak))
        else:
            down = None  # sqrt: no Keras equivalent; checked by hand below
        if down is not None:
            for s in range(start, max(steps) + 1):
                pairs.append((reference_value("WarmupStableDecay", config, s),
                              float(down(np.int64(s - start)))))
        _report(f"WarmupStableDecay (shape {shape}) vs keras pieces {config}", pairs,
                max(rtol, 1e-12))


# ---------------------------------------------------------------------------
# Library-free checks
# ---------------------------------------------------------------------------


def check_by_hand() -> None:
    print("Paper formula and hand-worked values")

    # InverseSqrtDecay vs Vaswani et al. (2017) eq. 3 with d_model = 512, rescaled.
    for config, steps in _cases("InverseSqrtDecay"):
        d_model = 512
        warm = config["warmup_steps"]
        paper_peak = d_model**-0.5 * warm**-0.5
        pairs = []
        for s in sorted(set(steps) | set(range(0, 5000))):
            n = s + 1
            paper = d_model**-0.5 * min(n**-0.5, n * warm**-1.5)
            pairs.append((reference_value("InverseSqrtDecay", config, s),
                          config["peak_learning_rate"] * paper / paper_peak))
        _report(f"InverseSqrtDecay vs paper formula {config}", pairs, 1e-13)

    hand = [
        # Warmup shapes at r = 1/2: linear/cosine -> midpoint, exponential -> geometric mean.
        ("Warmup", {"schedule": 0.1, "warmup_steps": 10, "shape": "cosine"}, 5, 0.05),
        ("Warmup", {"schedule": 0.1, "warmup_steps": 10, "shape": "cosine",
                    "initial_learning_rate": 0.02}, 5, 0.06),
        ("Warmup", {"schedule": 0.1, "warmup_steps": 10, "shape": "exponential",
                    "initial_learning_rate": 0.001}, 5, 0.01),
        ("Warmup", {"schedule": 0.1, "warmup_steps": 10, "shape": "exponential",
                    "initial_learning_rate": 0.001}, 0, 0.001),
        ("Warmup", {"schedule": 0.1, "warmup_steps": 10}, 5, 0.05),
        ("Warmup", {"schedule": ("StepDecay", {"initial_learning_rate": 0.1, "step_size": 10,
                                               "gamma": 0.5}),
                    "warmup_steps": 8, "initial_learning_rate": 1e-5, "shape": "exponential"},
         18, 0.05),
        # cosine warmup at r = 1/4: (1 - cos(pi/4)) / 2 of the way.
        ("Warmup", {"schedule": 1.0, "warmup_steps": 4, "shape": "cosine"}, 1,
         (1 - math.sqrt(0.5)) / 2),
        # WSD sqrt at q = 1/4 -> halfway between peak and final; q = 0 -> peak.
        ("WarmupStableDecay", {"peak_learning_rate": 1.0, "total_steps": 60, "warmup_steps": 6,
                               "decay_steps": 24, "decay_shape": "sqrt"}, 42, 0.5),
        ("WarmupStableDecay", {"peak_learning_rate": 0.4, "total_steps": 30, "warmup_steps": 10,
                               "decay_steps": 20, "final_learning_rate": 0.04,
                               "decay_shape": "sqrt"}, 15, 0.22),
        ("WarmupStableDecay", {"peak_learning_rate": 0.4, "total_steps": 30, "warmup_steps": 10,
                               "decay_steps": 20, "final_learning_rate": 0.04,
                               "decay_shape": "sqrt"}, 10, 0.4),
        ("WarmupStableDecay", {"peak_learning_rate": 3e-3, "total_steps": 200,
                               "warmup_steps": 20, "decay_steps": 50,
                               "final_learning_rate": 3e-4, "decay_shape": "cosine"}, 175,
         1.65e-3),
        # SGDR warmup: cycle start -> min, end of warmup -> peak_i, mid-cosine -> (min+peak_i)/2.
        ("CosineAnnealingWarmRestarts", {"initial_learning_rate": 0.01, "first_cycle_steps": 20,
                                         "min_learning_rate": 1e-4, "peak_decay": 0.8,
                                         "warmup_steps": 3}, 40, 1e-4),
        ("CosineAnnealingWarmRestarts", {"initial_learning_rate": 0.01, "first_cycle_steps": 20,
                                         "min_learning_rate": 1e-4, "peak_decay": 0.8,
                                         "warmup_steps": 3}, 43, 0.0064),
        ("CosineAnnealingWarmRestarts", {"initial_learning_rate": 0.01, "first_cycle_steps": 20,
                                         "min_learning_rate": 1e-4, "peak_decay": 0.8,
                                         "warmup_steps": 3}, 21, 1e-4 + (0.008 - 1e-4) / 3),
        # cycle_mult 1.5 with warmup 2: cycle 3 starts at 47.5, step 48 is p = 0.5.
        ("CosineAnnealingWarmRestarts", {"initial_learning_rate": 1.0, "first_cycle_steps": 10,
                                         "cycle_mult": 1.5, "min_learning_rate": 0.1,
                                         "warmup_steps": 2}, 48, 0.1 + 0.9 * 0.25),
        # cycle_mult 1.5, peak_decay 0.5: cycle 1 starts at 10 (length 15, peak 0.1),
        # so step 10 is its peak and step 25 starts cycle 2 (peak 0.05).
        ("CosineAnnealingWarmRestarts", {"initial_learning_rate": 0.2, "first_cycle_steps": 10,
                                         "cycle_mult": 1.5, "peak_decay": 0.5}, 10, 0.1),
        ("CosineAnnealingWarmRestarts", {"initial_learning_rate": 0.2, "first_cycle_steps": 10,
                                         "cycle_mult": 1.5, "peak_decay": 0.5}, 25, 0.05),
        # WarmupCosineDecay middle of the cosine.
        ("WarmupCosineDecay", {"peak_learning_rate": 0.05, "total_steps": 100,
                               "warmup_steps": 10}, 55, 0.025),
        # OneCycle: step 0 is max/div, last step and beyond is max/div/final_div.
        ("OneCycle", {"max_learning_rate": 0.1, "total_steps": 100}, 0, 0.004),
        ("OneCycle", {"max_learning_rate": 0.1, "total_steps": 100}, 99, 4e-7),
        ("OneCycle", {"max_learning_rate": 0.1, "total_steps": 100}, 1000, 4e-7),
        ("OneCycle", {"max_learning_rate": 0.01, "total_steps": 200, "three_phase": True},
         118, 0.0004),
        # Sequential: each piece restarts at its own step 0.
        ("SequentialSchedule", {"schedules": [0.01, ("StepDecay", {"initial_learning_rate": 0.1,
                                                                  "step_size": 5,
                                                                  "gamma": 0.5})],
                                "boundaries": [10]}, 15, 0.05),
        # InverseSqrtDecay peak at n = warmup.
        ("InverseSqrtDecay", {"peak_learning_rate": 1e-3, "warmup_steps": 4000}, 3999, 1e-3),
        ("InverseSqrtDecay", {"peak_learning_rate": 1e-3, "warmup_steps": 4000}, 15999, 5e-4),
        ("InverseSqrtDecay", {"peak_learning_rate": 0.5, "warmup_steps": 1}, 3, 0.25),
        # triangular2 third cycle peak (cycle 3 -> amplitude / 4), exp_range at a peak.
        ("CyclicalLearningRate", {"initial_learning_rate": 0.01, "maximal_learning_rate": 0.1,
                                  "step_size": 5, "mode": "triangular2"}, 25, 0.01 + 0.09 / 4),
        ("CyclicalLearningRate", {"initial_learning_rate": 0.0, "maximal_learning_rate": 1.0,
                                  "step_size": 4, "mode": "exp_range", "gamma": 0.5}, 4,
         0.0625),
        ("NaturalExpDecay", {"initial_learning_rate": 1.0, "decay_rate": 1.0,
                             "decay_steps": 100}, 200, math.exp(-2)),
        ("keras.CosineDecay", {"initial_learning_rate": 1e-3, "decay_steps": 50, "alpha": 0.05,
                               "warmup_target": 1e-2, "warmup_steps": 20}, 10, 5.5e-3),
    ]
    pairs = [(reference_value(name, config, step), expected)
             for name, config, step, expected in hand]
    _report(f"{len(hand)} hand-worked values", pairs, 1e-13)

    # structural checks on CASES
    problems = []
    for name, config, steps in CASES + SCALE_FN_CASES:
        if not isinstance(steps, list) or 0 not in steps:
            problems.append(f"{name} {config}: steps must be a list containing 0")
        if any(not isinstance(s, int) or s < 0 for s in steps):
            problems.append(f"{name} {config}: steps must be non-negative ints")
        for s in steps:
            value = reference_value(name, config, s)
            if not math.isfinite(value):
                problems.append(f"{name} {config}: non-finite value at {s}")
    print(f"  [{'ok' if not problems else 'FAIL'}] CASES structure: {len(CASES)} cases")
    for line in problems:
        print("   ", line)
    FAILURES.extend(problems)


def main() -> int:
    check_torch()
    check_keras()
    check_by_hand()
    if FAILURES:
        print(f"{len(FAILURES)} comparison(s) failed")
        return 1
    print("all comparisons within tolerance")
    return 0


if __name__ == "__main__":
    sys.exit(main())
