# %% [markdown]
# # Quickstart: a better optimizer and a schedule in three lines
#
# keras_optkit's optimizers are ordinary `keras.optimizers.Optimizer` objects and its schedules are ordinary
# `keras.optimizers.schedules.LearningRateSchedule` objects: they go straight into `model.compile`.
#
# This notebook trains a small network on scikit-learn's bundled handwritten digits (8x8 pixels, no download)
# with **AdaBelief** (Zhuang et al. 2020) under a **linear warmup followed by a cosine decay**
# (`WarmupCosineDecay`), next to plain Adam at a constant rate as a baseline, and plots the training curves and
# the learning rate of every step.
#
# Set `KERAS_OPTKIT_QUICK=1` for a few-second smoke run, and `KERAS_OPTKIT_OUT` to choose where figures go
# (default: `examples_output/`).

# %%
import os
import pathlib
import time

import keras
import matplotlib.pyplot as plt

from keras_optkit.demo import build_digits_model, load_digits_split
from keras_optkit.optimizers import AdaBelief
from keras_optkit.schedules import WarmupCosineDecay, schedule_values
from keras_optkit.viz import plot_schedule

QUICK = os.environ.get("KERAS_OPTKIT_QUICK") == "1"
OUT = pathlib.Path(os.environ.get("KERAS_OPTKIT_OUT", "examples_output"))  # ignored by git
OUT.mkdir(parents=True, exist_ok=True)
SEED = 0
keras.utils.set_random_seed(SEED)
print(f"Keras {keras.__version__} on the {keras.backend.backend()} backend; quick mode: {QUICK}")

# %% [markdown]
# ## The data
#
# 1,797 digits, scaled to [0, 1] and split 80 / 20 with a fixed seed. A schedule counts optimizer steps
# (batches), so we work out how many steps the whole run takes.

# %%
x_train, y_train, x_val, y_val = load_digits_split(seed=SEED)
EPOCHS = 2 if QUICK else 20
BATCH_SIZE = 32
steps_per_epoch = -(-len(x_train) // BATCH_SIZE)  # ceiling division: the last batch is smaller
total_steps = EPOCHS * steps_per_epoch
print(f"{len(x_train)} training / {len(x_val)} validation images")
print(f"{EPOCHS} epochs x {steps_per_epoch} batches = {total_steps} optimizer steps")

# %% [markdown]
# ## Optimizer and schedule
#
# The rate climbs linearly from 0 to its peak over the first 5 % of the steps, then follows a half cosine
# down to 1 % of the peak at the last step. Warming up lets the adaptive second moment settle before the
# steps get large. The schedule is a function of the step, so we can look at it before training.

# %%
schedule = WarmupCosineDecay(
    peak_learning_rate=3e-3,
    total_steps=total_steps,
    warmup_steps=max(1, total_steps // 20),
    final_learning_rate=3e-5,
)
optimizer = AdaBelief(learning_rate=schedule)
print(schedule)
rates = schedule_values(schedule, total_steps)  # the rate of every step, as a NumPy array
print(f"step 0: {rates[0]:.2e}   peak: {rates.max():.2e} at step {rates.argmax()}   last: {rates[-1]:.2e}")

# %% [markdown]
# ## Train
#
# `build_digits_model` is a 64 -> 128 -> 10 MLP and seeds its weights, so both runs start from the same
# initial weights. The baseline uses Keras's Adam at its default constant rate, 1e-3.

# %%
def train(optimizer):
    model = build_digits_model(seed=SEED)
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    started = time.perf_counter()
    history = model.fit(
        x_train,
        y_train,
        validation_data=(x_val, y_val),
        epochs=EPOCHS,
        batch_size=BATCH_SIZE,
        verbose=0,
    )
    return model, history.history, time.perf_counter() - started


model, history, seconds = train(optimizer)
baseline_model, baseline_history, baseline_seconds = train(keras.optimizers.Adam(1e-3))
print(f"AdaBelief + WarmupCosineDecay: validation accuracy {history['val_accuracy'][-1]:.4f} ({seconds:.1f} s)")
print(f"Adam, constant 1e-3:           validation accuracy {baseline_history['val_accuracy'][-1]:.4f}"
      f" ({baseline_seconds:.1f} s)")
print(f"optimizer steps taken: {int(model.optimizer.iterations.numpy())} (planned {total_steps})")

# %% [markdown]
# ## Training curves and the learning rate of every step
#
# Left: training and validation loss; middle: validation accuracy; right: the rate each step used
# (`keras_optkit.viz.plot_schedule`), with a grey line at every epoch end.

# %%
epochs = range(1, EPOCHS + 1)
figure, (loss_axis, accuracy_axis, rate_axis) = plt.subplots(1, 3, figsize=(15, 4))
for label, curves in (("AdaBelief + WarmupCosineDecay", history), ("Adam 1e-3", baseline_history)):
    (line,) = loss_axis.plot(epochs, curves["loss"], label=f"{label} (train)")
    loss_axis.plot(epochs, curves["val_loss"], "--", color=line.get_color(), label=f"{label} (val)")
    accuracy_axis.plot(epochs, curves["val_accuracy"], marker=".", label=label)
loss_axis.set(xlabel="epoch", ylabel="loss", yscale="log", title="Loss")
accuracy_axis.set(xlabel="epoch", ylabel="accuracy", title="Validation accuracy")
for axis in (loss_axis, accuracy_axis):
    axis.grid(True, alpha=0.3)
    axis.legend(fontsize="small")
    axis.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
plot_schedule({"WarmupCosineDecay": schedule}, total_steps, ax=rate_axis)
for epoch in epochs:
    rate_axis.axvline(epoch * steps_per_epoch, color="0.85", linewidth=0.8, zorder=0)
rate_axis.set_title("AdaBelief learning rate per step")
figure.tight_layout()
path = OUT / "quickstart.png"
figure.savefig(path, dpi=110)
print(f"Wrote {path}")
plt.show()

# %% [markdown]
# ## Results

# %%
print(f"{'optimizer':<12} {'schedule':<36} {'final val acc':>13} {'best val acc':>12} {'seconds':>8}")
for name, schedule_name, curves, run_seconds in (
    ("AdaBelief", "WarmupCosineDecay(3e-3, 5% warmup)", history, seconds),
    ("Adam", "constant 1e-3", baseline_history, baseline_seconds),
):
    print(
        f"{name:<12} {schedule_name:<36} {curves['val_accuracy'][-1]:>13.4f} "
        f"{max(curves['val_accuracy']):>12.4f} {run_seconds:>8.1f}"
    )
