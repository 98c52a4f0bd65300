# %% [markdown]
# # Finding a learning rate, then training one cycle at it
#
# The learning-rate range test (Smith 2017, popularised by fastai's `lr_find`) trains for a hundred batches while
# the rate grows exponentially from 1e-7 to 10, and records the loss. The loss first barely moves, then falls,
# then blows up: a good rate sits on the falling stretch.
#
# `keras_optkit.callbacks.find_lr` runs that test on a compiled Keras 3 model and then puts the weights *and* the
# optimizer state back exactly, so the model trains on as if the test had never run. Here we run it on
# scikit-learn's bundled digits, read its suggestions, train at `suggest("constant")` held constant, and train a
# `OneCycle` schedule peaking at `suggest("one_cycle")`.
#
# Set `KERAS_OPTKIT_QUICK=1` for a few-second smoke run, and `KERAS_OPTKIT_OUT` to choose where figures go
# (default: `examples_output/`).

# %%
import os
import pathlib

import keras
import matplotlib.pyplot as plt
import numpy as np

from keras_optkit.callbacks import HyperparameterScheduler, find_lr
from keras_optkit.demo import build_digits_model, load_digits_split
from keras_optkit.schedules import OneCycle

QUICK = os.environ.get("KERAS_OPTKIT_QUICK") == "1"
OUT = pathlib.Path(os.environ.get("KERAS_OPTKIT_OUT", "examples_output"))  # ignored by git
OUT.mkdir(parents=True, exist_ok=True)
SEED = 0
keras.utils.set_random_seed(SEED)
EPOCHS = 1 if QUICK else 8
FINDER_STEPS = 20 if QUICK else 100
BATCH_SIZE = 32
print(f"Keras {keras.__version__} on the {keras.backend.backend()} backend; quick mode: {QUICK}")

# %% [markdown]
# ## Data and model
#
# The digits are 8x8 images scaled to [0, 1]; `build_digits_model` is a seeded 64 -> 128 -> 10 MLP. We compile it
# with Adam at a plain float rate: the test drives that rate itself.

# %%
x_train, y_train, x_val, y_val = load_digits_split(seed=SEED)
model = build_digits_model(seed=SEED)
model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
initial_weights = [np.array(weight) for weight in model.get_weights()]
print(f"{len(x_train)} training / {len(x_val)} validation images, {model.count_params()} parameters")

# %% [markdown]
# ## The range test
#
# `find_lr` trains `num_steps` batches (going through the data again if needed), stops early once the smoothed
# loss exceeds 4 times its best, and returns an `LRFinderResult`. `result.suggest(schedule)` gives the rate for
# a schedule family: `"constant"` (a rate to train at all along), `"one_cycle"` (the peak of a OneCycle) or
# `"cosine"` (the peak of a warmup-cosine decay); a schedule that spends most of its steps below its peak takes a
# higher peak. How far these are from the best rate is measured on a panel of small problems in
# `benchmarks/lr_panel.py`. fastai's three rules are there too:
#
# * `minimum`: the rate of the lowest smoothed loss, divided by 10;
# * `steepest`: where the smoothed loss falls fastest;
# * `valley`: about halfway down the longest descent of the curve.

# %%
result = find_lr(
    model, x_train, y_train, batch_size=BATCH_SIZE, start_lr=1e-7, end_lr=10.0, num_steps=FINDER_STEPS
)
print(result.summary())
print("suggestions:", {name: float(f"{rate:.3g}") for name, rate in result.suggestions.items()})
restored = all(
    np.array_equal(before, after) for before, after in zip(initial_weights, model.get_weights(), strict=True)
)
print(f"weights restored bit for bit: {restored}; optimizer steps: {int(model.optimizer.iterations.numpy())}")

# %% [markdown]
# ## The curve
#
# `result.plot()` draws the raw and the smoothed loss against the rate (log scale) and marks each suggestion.

# %%
ax = result.plot()
ax.set_title(f"Learning-rate range test, digits MLP, Adam ({keras.backend.backend()} backend)")
ax.figure.tight_layout()
path = OUT / "lr_finder.png"
ax.figure.savefig(path, dpi=110)
print(f"Wrote {path}")
plt.show()

# %% [markdown]
# ## Training one cycle at the suggested rate
#
# `OneCycle(max_learning_rate, total_steps)` (Smith & Topin 2017) rises from a 25th of the peak to the peak over
# the first 30 % of the steps, then anneals far below the start. As in PyTorch's `OneCycleLR` and fastai's
# `fit_one_cycle`, Adam's `beta_1` moves the other way, 0.95 -> 0.85 -> 0.95
# (`HyperparameterScheduler.one_cycle_momentum`).
#
# For comparison we train twice more from the same initial weights (and the same shuffling): Adam at the
# `suggest("constant")` rate held constant, and Adam at its default 1e-3. Each run recompiles the model with a fresh
# optimizer; the weights saved above put it back at its starting point between runs.

# %%
peak = result.suggest("one_cycle")
constant_rate = result.suggest("constant")
steps_per_epoch = -(-len(x_train) // BATCH_SIZE)
total_steps = EPOCHS * steps_per_epoch


def fit_from_start(optimizer, callbacks=()):
    keras.utils.set_random_seed(SEED)
    model.set_weights(initial_weights)
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(
        x_train,
        y_train,
        validation_data=(x_val, y_val),
        epochs=EPOCHS,
        batch_size=BATCH_SIZE,
        callbacks=list(callbacks),
        verbose=0,
    )
    return history.history["val_accuracy"]


runs = {
    f"Adam, OneCycle(max_learning_rate={peak:.2g}) (suggested)": fit_from_start(
        keras.optimizers.Adam(OneCycle(max_learning_rate=peak, total_steps=total_steps)),
        [HyperparameterScheduler.one_cycle_momentum(total_steps, hyperparameter="beta_1")],
    ),
    f"Adam, constant {constant_rate:.2g} (suggested)": fit_from_start(keras.optimizers.Adam(constant_rate)),
    "Adam, constant 1e-3 (default)": fit_from_start(keras.optimizers.Adam(1e-3)),
}
for name, accuracies in runs.items():
    print(f"{name}: validation accuracy {accuracies[-1]:.4f}")

# %% [markdown]
# ## Results

# %%
print(f"suggested rates: constant {constant_rate:.3g}, one_cycle peak {peak:.3g}; fastai's minimum "
      f"{result.minimum:.3g}, steepest {result.steepest:.3g}, valley {result.valley:.3g}")
print(f"{'run (' + str(EPOCHS) + ' epochs)':<52} {'final val acc':>13} {'best val acc':>12}")
for name, accuracies in runs.items():
    print(f"{name:<52} {accuracies[-1]:>13.4f} {max(accuracies):>12.4f}")
