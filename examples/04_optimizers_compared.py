# %% [markdown]
# # Optimizers compared on one small network
#
# keras_optkit ships a dozen optimizers from the literature (RAdam, AdaBelief, Yogi, Adan, ADOPT, ...) and
# wrappers around any optimizer (Lookahead; Ranger = RAdam + Lookahead + gradient centralization). Each is a
# plain `keras.optimizers.Optimizer`, so trying one is a change of one line in `compile`.
#
# Here each of them trains the same 64-128-10 MLP on scikit-learn's bundled 8x8 digits, from the same initial
# weights, on the same batches in the same order, for the same number of epochs, next to Keras's own
# `Adam(1e-3)`. Every optimizer gets the same learning rate, 1e-3, and its defaults otherwise: this is a
# like-for-like run, not a tuned one (example 06 tunes). We print the final training loss, the validation
# accuracy and the wall time of each run, and draw the learning curves.

# %%
import os
import pathlib
import time

import keras
import matplotlib.pyplot as plt

from keras_optkit.demo import build_digits_model, load_digits_split
from keras_optkit.optimizers import ADOPT, AdaBelief, Adan, Lookahead, RAdam, Ranger, Yogi

QUICK = os.environ.get("KERAS_OPTKIT_QUICK") == "1"
OUT = pathlib.Path(os.environ.get("KERAS_OPTKIT_OUT", "examples_output"))  # ignored by git
OUT.mkdir(parents=True, exist_ok=True)

SEED = 0
EPOCHS = 2 if QUICK else 8
BATCH_SIZE = 32
LEARNING_RATE = 1e-3
print(f"Keras {keras.__version__}, backend {keras.backend.backend()}, quick mode: {QUICK}")

# %% [markdown]
# ## Data and the shared starting point
#
# `load_digits_split` scales the 1,797 digits to [0, 1] and splits them 80 / 20 with a fixed seed.
# We build the model once and keep its initial weights: every run below starts from exactly these.

# %%
x_train, y_train, x_val, y_val = load_digits_split(seed=SEED)
initial_weights = build_digits_model(seed=SEED).get_weights()
print(f"{len(x_train)} training and {len(x_val)} validation images, {x_train.shape[1]} pixels each")
print(f"{sum(w.size for w in initial_weights)} parameters")

# %% [markdown]
# ## The contenders
#
# A factory per optimizer, so each run gets a fresh one (an optimizer's slots belong to the model it
# first trained). Wrappers take any optimizer: `Lookahead(keras.optimizers.Adam(...))` is Lookahead around
# Keras's own Adam. In quick mode only three run, for two epochs.

# %%
contenders = {
    "Adam (Keras)": lambda: keras.optimizers.Adam(LEARNING_RATE),
    "RAdam": lambda: RAdam(LEARNING_RATE),
    "AdaBelief": lambda: AdaBelief(LEARNING_RATE),
    "Yogi": lambda: Yogi(LEARNING_RATE),
    "Lookahead(Adam)": lambda: Lookahead(keras.optimizers.Adam(LEARNING_RATE)),
    "Ranger": lambda: Ranger(LEARNING_RATE),
    "Adan": lambda: Adan(LEARNING_RATE),
    "ADOPT": lambda: ADOPT(LEARNING_RATE),
}
if QUICK:
    contenders = {name: contenders[name] for name in ("Adam (Keras)", "RAdam", "Lookahead(Adam)")}
print(", ".join(contenders))

# %% [markdown]
# ## Training
#
# Before each `fit` the weights are reset to the shared initial ones and the random seed is set again, so the
# batches are shuffled identically for every optimizer: the only difference between runs is the optimizer.
# The time includes building the compiled train step.

# %%
histories = {}
seconds = {}
for name, make_optimizer in contenders.items():
    model = build_digits_model(seed=SEED)
    model.set_weights(initial_weights)
    model.compile(
        optimizer=make_optimizer(),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    keras.utils.set_random_seed(SEED)
    started = time.perf_counter()
    history = model.fit(
        x_train,
        y_train,
        validation_data=(x_val, y_val),
        epochs=EPOCHS,
        batch_size=BATCH_SIZE,
        verbose=0,
    )
    seconds[name] = time.perf_counter() - started
    histories[name] = history.history
    print(f"{name:<16} done in {seconds[name]:.1f} s")

# %% [markdown]
# ## Results
#
# Sorted by validation accuracy after the last epoch. On a problem this small the differences are a few
# tenths of a percent to a few percent, and they depend on the learning rate each optimizer is given: treat
# the table as a demonstration of the API and a sanity check, not as a benchmark.

# %%
rows = sorted(
    (
        (name, h["loss"][-1], h["val_loss"][-1], h["val_accuracy"][-1], seconds[name])
        for name, h in histories.items()
    ),
    key=lambda row: row[3],
    reverse=True,
)
header = f"{'optimizer':<16}  {'train loss':>10}  {'val loss':>8}  {'val accuracy':>12}  {'seconds':>7}"
print(f"{EPOCHS} epochs, learning rate {LEARNING_RATE:g}, batch size {BATCH_SIZE}")
print(header)
print("-" * len(header))
for name, loss, val_loss, val_accuracy, elapsed in rows:
    print(f"{name:<16}  {loss:>10.4f}  {val_loss:>8.4f}  {val_accuracy:>12.4f}  {elapsed:>7.1f}")

# %% [markdown]
# ## Learning curves
#
# Training loss (log scale), validation loss and validation accuracy per epoch. Keras's Adam is the black
# line.
#
# RAdam and Ranger trail here for a known reason, not a bug: RAdam multiplies its Adam step by the variance
# rectifier r_t, which with beta_2 = 0.999 is 0.14 after the first epoch (45 steps), only 0.41 after 360
# steps (the end of this run's 8 epochs), and 0.9 after about 3,000: a built-in warmup longer than this
# whole run. Lookahead (alone, and inside Ranger) pulls the weights halfway back to its slow copy every 6
# steps, which also slows the first epochs. Both do better with a larger rate or a longer run (example 06's
# search picks RAdam at a rate of about 5e-2).

# %%
figure, axes = plt.subplots(1, 3, figsize=(15, 4.2))
epochs_axis = range(1, EPOCHS + 1)
for name, h in histories.items():
    style = {"color": "black", "linewidth": 2.2} if name == "Adam (Keras)" else {"linewidth": 1.4}
    axes[0].plot(epochs_axis, h["loss"], label=name, **style)
    axes[1].plot(epochs_axis, h["val_loss"], label=name, **style)
    axes[2].plot(epochs_axis, h["val_accuracy"], label=name, **style)
axes[0].set_yscale("log")
axes[0].set_title("training loss")
axes[1].set_title("validation loss")
axes[2].set_title("validation accuracy")
axes[2].set_ylim(max(0.0, min(min(h["val_accuracy"]) for h in histories.values()) - 0.02), 1.0)
for ax in axes:
    ax.set_xlabel("epoch")
    ax.grid(True, alpha=0.3)
axes[2].legend(loc="lower right", fontsize=8)
figure.suptitle(
    f"Digits MLP, learning rate {LEARNING_RATE:g} for every optimizer ({keras.backend.backend()} backend)"
)
figure.tight_layout()
path = OUT / "optimizers_compared.png"
figure.savefig(path, dpi=110)
print(f"Wrote {path}")
plt.show()
