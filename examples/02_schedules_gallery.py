# %% [markdown]
# # A gallery of learning-rate schedules
#
# Every schedule in keras_optkit is a `keras.optimizers.schedules.LearningRateSchedule`: a function from the
# optimizer's step (0 = the first batch) to a rate, computed with `keras.ops` so it runs inside compiled train
# steps on any backend. Because a schedule is just a function, we can draw it before training anything.
#
# This notebook
#
# 1. draws every registered schedule from its registry example (the picture in the README, `schedules.png`);
# 2. puts a warmup in front of one of Keras's own schedules with `Warmup`;
# 3. joins schedules end to end with `SequentialSchedule`, and checks one joined schedule against the built-in
#    schedule it imitates.
#
# Nothing is trained here, so it runs in a few seconds. `KERAS_OPTKIT_OUT` chooses where figures go
# (default: `examples_output/`).

# %%
import math
import os
import pathlib

import keras
import matplotlib.pyplot as plt
import numpy as np

from keras_optkit.schedules import (
    LinearSchedule,
    OneCycle,
    SequentialSchedule,
    Warmup,
    WarmupStableDecay,
    list_schedules,
    schedule_values,
)
from keras_optkit.viz import plot_schedule

QUICK = os.environ.get("KERAS_OPTKIT_QUICK") == "1"
OUT = pathlib.Path(os.environ.get("KERAS_OPTKIT_OUT", "examples_output"))  # ignored by git
OUT.mkdir(parents=True, exist_ok=True)
keras.utils.set_random_seed(0)


def save_and_show(figure, name):
    figure.tight_layout()
    path = OUT / name
    figure.savefig(path, dpi=110)
    print(f"Wrote {path}")
    plt.show()
# Evaluating a schedule costs microseconds per step; quick mode only draws fewer of them.
TOTAL_STEPS = 400 if QUICK else 1000
print(f"Keras {keras.__version__} on the {keras.backend.backend()} backend; quick mode: {QUICK}")

# %% [markdown]
# ## What is registered
#
# `list_schedules()` returns one registry entry per schedule: its class, a one-line description and the
# arguments of a small example instance (`entry.build()` makes it).

# %%
entries = list_schedules()
for entry in entries:
    print(f"{entry.name:<28} {entry.description}")

# %% [markdown]
# ## Every schedule, drawn from its registry example
#
# `plot_schedule(schedule, total_steps, ax=...)` evaluates the schedule at steps `0 .. total_steps - 1` in one
# vectorized call and draws it. The three wrappers (`ScaledSchedule`, `SequentialSchedule`, `Warmup`) wrap
# constants in their registry examples; the sections below wrap real schedules.

# %%
columns = 4
rows = math.ceil(len(entries) / columns)
figure, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 2.8 * rows), squeeze=False)
for axis, entry in zip(axes.flat, entries, strict=False):
    plot_schedule({entry.name: entry.build()}, TOTAL_STEPS, ax=axis)
    arguments = ", ".join(f"{key}={value}" for key, value in entry.example.items())
    axis.set_title(f"{entry.name}\n({arguments})", fontsize=7)
    axis.get_legend().remove()
    axis.tick_params(labelsize=7)
    axis.xaxis.label.set_size(7)
    axis.yaxis.label.set_size(7)
for axis in axes.flat[len(entries):]:
    axis.axis("off")
save_and_show(figure, "schedules.png")

# %% [markdown]
# ## Warmup in front of any schedule, Keras's own included
#
# `Warmup(schedule, warmup_steps)` rises from `initial_learning_rate` to the wrapped schedule's first value, then
# runs that schedule from its own step 0, so `Warmup(CosineDecay(..., decay_steps=900), 100)` lasts 1,000
# steps. The rise can be linear, cosine or exponential (the last needs a start above 0).
#
# Keras's `CosineDecay` has a linear warmup of its own (`warmup_target`, `warmup_steps`); the linear `Warmup`
# gives the same rates, which we check.

# %%
warmup_steps = TOTAL_STEPS // 10
cosine = keras.optimizers.schedules.CosineDecay(0.1, decay_steps=TOTAL_STEPS - warmup_steps)
warmups = {
    f"Warmup(CosineDecay, {warmup_steps}, shape='{shape}')": Warmup(
        cosine, warmup_steps=warmup_steps, shape=shape, initial_learning_rate=1e-3
    )
    for shape in ("linear", "cosine", "exponential")
}
keras_own = keras.optimizers.schedules.CosineDecay(
    1e-3, decay_steps=TOTAL_STEPS - warmup_steps, warmup_target=0.1, warmup_steps=warmup_steps
)
linear_warmup = next(iter(warmups.values()))
# Compared at every step (schedule_values evaluates Keras's step-branching CosineDecay through a compiled vmap
# on JAX, so this is quick on both backends).
check_steps = np.arange(TOTAL_STEPS)
difference = np.abs(schedule_values(linear_warmup, check_steps) - schedule_values(keras_own, check_steps))
print(f"linear Warmup vs CosineDecay(warmup_target=...) over {TOTAL_STEPS} steps: "
      f"largest difference {difference.max():.2e}")

figure, (full_axis, zoom_axis) = plt.subplots(1, 2, figsize=(13, 4))
plot_schedule(warmups, TOTAL_STEPS, ax=full_axis)
full_axis.set_title("Warmup in front of keras.optimizers.schedules.CosineDecay")
plot_schedule(warmups, 2 * warmup_steps, ax=zoom_axis, log=True)
zoom_axis.axvline(warmup_steps, color="0.6", linestyle=":", label="end of warmup")
zoom_axis.set_title(f"The first {2 * warmup_steps} steps, log scale")
zoom_axis.legend(fontsize="small")
save_and_show(figure, "warmup.png")

# %% [markdown]
# ## Joining schedules with `SequentialSchedule`
#
# `SequentialSchedule(schedules, boundaries)` runs each schedule (or constant) from its own step 0 between
# two boundaries, like PyTorch's `SequentialLR` or optax's `join_schedules`.
#
# Left: warmup-stable-decay built by hand from three pieces (a linear rise, a constant, a linear fall). It must
# equal the built-in `WarmupStableDecay`, and does. Right: two one-cycle runs back to back, the second with half
# the peak, as when training continues on a fine-tuning stage.

# %%
decay_steps = TOTAL_STEPS // 5
plateau_end = TOTAL_STEPS - decay_steps
by_hand = SequentialSchedule(
    [LinearSchedule(0.0, 0.05, total_steps=warmup_steps), 0.05, LinearSchedule(0.05, 0.0, total_steps=decay_steps)],
    boundaries=[warmup_steps, plateau_end],
)
built_in = WarmupStableDecay(0.05, total_steps=TOTAL_STEPS, warmup_steps=warmup_steps, decay_steps=decay_steps)
difference = np.abs(schedule_values(by_hand, TOTAL_STEPS) - schedule_values(built_in, TOTAL_STEPS))
print(f"SequentialSchedule by hand vs WarmupStableDecay: largest difference {difference.max():.2e}")

half = TOTAL_STEPS // 2
two_cycles = SequentialSchedule([OneCycle(0.1, half), OneCycle(0.05, TOTAL_STEPS - half)], boundaries=[half])

figure, (wsd_axis, cycles_axis) = plt.subplots(1, 2, figsize=(13, 4))
plot_schedule({"SequentialSchedule (by hand)": by_hand}, TOTAL_STEPS, ax=wsd_axis)
wsd_axis.plot(range(TOTAL_STEPS), schedule_values(built_in, TOTAL_STEPS), ":", linewidth=3,
              label="WarmupStableDecay")
wsd_axis.legend(fontsize="small")
wsd_axis.set_title("Warmup-stable-decay from three pieces")
plot_schedule({"SequentialSchedule([OneCycle, OneCycle])": two_cycles}, TOTAL_STEPS, ax=cycles_axis)
cycles_axis.axvline(half, color="0.6", linestyle=":")
cycles_axis.set_title("Two one-cycle stages, the second at half the peak")
save_and_show(figure, "sequential.png")

# %% [markdown]
# ## Joined schedules are still schedules
#
# They go into any optimizer, and serialize like any Keras object, the nested schedules included: a model saved
# to a `.keras` file with this optimizer loads without `custom_objects`.

# %%
optimizer = keras.optimizers.SGD(learning_rate=two_cycles, momentum=0.9)
config = keras.optimizers.schedules.serialize(two_cycles)
restored = keras.optimizers.schedules.deserialize(config)
same = np.array_equal(schedule_values(restored, TOTAL_STEPS), schedule_values(two_cycles, TOTAL_STEPS))
print(f"serialized as {config['module']}>{config['class_name']}; restored "
      f"{type(restored).__name__} of {[type(part).__name__ for part in restored.schedules]}, "
      f"same rates at every step: {same}")
print(f"the optimizer's rate at step 0: {float(optimizer.learning_rate):.5f}")

# %% [markdown]
# ## The rates at a few steps

# %%
probe = [0, warmup_steps, TOTAL_STEPS // 2, TOTAL_STEPS - 1]
table = {entry.name: entry.build() for entry in entries}
table["Warmup(CosineDecay) linear"] = linear_warmup
table["SequentialSchedule WSD"] = by_hand
table["SequentialSchedule 2 cycles"] = two_cycles
print(f"{'schedule':<30}" + "".join(f"{f'step {step}':>12}" for step in probe))
for name, schedule in table.items():
    print(f"{name:<30}" + "".join(f"{rate:>12.5f}" for rate in schedule_values(schedule, probe)))
