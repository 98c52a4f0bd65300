# %% [markdown]
# # Searching the training recipe with Keras Tuner
#
# `keras_optkit.tuner.tune()` searches *how* a model is trained rather than how it is built: the optimizer
# family, the learning rate, the schedule family with its own parameters, weight decay and the L2 strength.
# It wraps keras-tuner, so any of its tuners (random, Bayesian, Hyperband, grid) can drive the search.
#
# In this notebook we run a small search on scikit-learn's bundled digits, print every trial, plot the
# objective against the learning rate and the L2 strength, and then take the winning recipe (fresh Keras
# objects from `result.recipe()`) to train a new model, next to a plain Keras `Adam(1e-3)` baseline trained
# for the same number of epochs from the same initial weights.

# %%
import os
import pathlib
import shutil
import tempfile
import time

import keras
import matplotlib.pyplot as plt

from keras_optkit.demo import build_digits_model, load_digits_split
from keras_optkit.regularizers import apply_regularization
from keras_optkit.tuner import SearchSpace, tune

QUICK = os.environ.get("KERAS_OPTKIT_QUICK") == "1"
OUT = pathlib.Path(os.environ.get("KERAS_OPTKIT_OUT", "examples_output"))  # ignored by git
OUT.mkdir(parents=True, exist_ok=True)

SEED = 0
EPOCHS = 1 if QUICK else 5
MAX_TRIALS = 2 if QUICK else 7
FINDER_STEPS = 20 if QUICK else 60
BATCH_SIZE = 32
print(f"Keras {keras.__version__}, backend {keras.backend.backend()}, quick mode: {QUICK}")

x_train, y_train, x_val, y_val = load_digits_split(seed=SEED)
print(f"{len(x_train)} training and {len(x_val)} validation images")

# %% [markdown]
# ## The search space
#
# Three optimizer families: Keras's Adam, Keras's SGD (with a searched momentum) and this package's RAdam,
# named like any registered optimizer. Each family has its own learning-rate range. Schedules: a constant
# rate, warmup + cosine decay, and OneCycle (each with its own searched parameter). L2 strength on the dense
# kernels, log-uniform in [1e-6, 1e-3] or switched off; no weight decay.
#
# `build_model` only builds the architecture; `tune()` adds the regularizer, compiles and trains each trial.
# `build_digits_model` seeds Keras itself, so every trial (and the two models trained at the end) starts
# from the same initial weights: the trials differ by their recipe only.

# %%
space = SearchSpace(
    optimizers=["adam", "sgd", "RAdam"],
    learning_rate={"adam": (1e-4, 3e-2), "sgd": (1e-3, 1.0), "RAdam": (1e-4, 3e-2)},
    schedules=["constant", "warmup_cosine", "one_cycle"],
    weight_decay=None,
    l2=(1e-6, 1e-3),
)


def build_model():
    return build_digits_model(seed=SEED)


# %% [markdown]
# ## Running the search
#
# Before the trials, `tune()` runs a learning-rate range test per optimizer family (`narrow_lr_with_finder`,
# on by default) and narrows each family's range around the rate the test suggests. Then keras-tuner's
# random search runs the trials; `seed` makes the trials and their initial weights reproducible. keras-tuner
# keeps its trial files in a temporary directory, removed at the end of this notebook.

# %%
tuner_directory = tempfile.mkdtemp(prefix="keras_optkit_example_")
started = time.perf_counter()
result = tune(
    build_model,
    x_train,
    y_train,
    validation_data=(x_val, y_val),
    search_space=space,
    tuner="random",
    max_trials=MAX_TRIALS,
    epochs=EPOCHS,
    batch_size=BATCH_SIZE,
    objective="val_accuracy",
    loss="sparse_categorical_crossentropy",
    metrics=["accuracy"],
    finder_steps=FINDER_STEPS,
    directory=tuner_directory,
    seed=SEED,
)
print(f"search done in {time.perf_counter() - started:.1f} s: {result}")


def suggested(finder, schedule):
    try:
        return f"{finder.suggest(schedule):.2e}"
    except ValueError:  # a range test whose loss did not fall: nothing to read, the range stays as given
        return "none"


for family, finder in result.finder_results.items():
    narrowed = result.hypermodel.search_space.learning_rate_ranges[family]
    print(f"  {family:<6} finder suggests {suggested(finder, 'constant')} (constant), "
          f"{suggested(finder, 'one_cycle')} (one_cycle peak); searched {narrowed.low:.2e} .. {narrowed.high:.2e}")

# %% [markdown]
# ## Every trial, best first
#
# `result.summary()` prints the table; `result.table()` returns the same rows as dicts (with every
# searched value, e.g. the schedule's own parameters) for your own analysis. A trial's score is the best
# validation accuracy over its epochs.

# %%
print(result.summary(limit=MAX_TRIALS))
best = result.table()[0]
print("best trial, all values:", {k: (f"{v:.3g}" if isinstance(v, float) else v) for k, v in best.items()})

# %% [markdown]
# ## The picture
#
# `result.plot()` draws the objective of each trial against its learning rate (the peak of its schedule) and
# against its L2 strength, one colour per schedule family.

# %%
axes = result.plot()
figure = axes[0].figure
figure.suptitle(
    f"Random search on digits: {MAX_TRIALS} trials x {EPOCHS} epochs ({keras.backend.backend()} backend)"
)
figure.tight_layout()
path = OUT / "tuning.png"
figure.savefig(path, dpi=110)
print(f"Wrote {path}")
plt.show()

# %% [markdown]
# ## Training a fresh model with the winning recipe
#
# `result.recipe()` rebuilds the winner as new Keras objects: an optimizer carrying its learning rate or
# schedule (sized for the trial's number of steps), and the L2 regularizer with the layers it applies to.
# We attach the regularizer with `apply_regularization`, train for the same number of epochs, and compare
# with Keras's `Adam(1e-3)` from the same initial weights.
#
# Expect the retrained model to land a little below the winning trial's score: the batches are shuffled
# differently, the score was the trial's best epoch, and the winner of several noisy scores on 360
# validation images is partly the luckiest (a held-out test set would measure it without that bias).

# %%
recipe = result.recipe()
rate = recipe.learning_rate  # a float, or a schedule object for a scheduled recipe
rate_text = f"{rate:.3g}" if isinstance(rate, float) else repr(rate)
print(f"optimizer: {type(recipe.optimizer).__name__}, learning rate: {rate_text}")
print(f"regularizer: {recipe.kernel_regularizer}, batch size: {recipe.batch_size}, "
      f"schedule length: {recipe.total_steps} steps")


def train(model, optimizer, batch_size):
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    keras.utils.set_random_seed(SEED)
    history = model.fit(
        x_train,
        y_train,
        validation_data=(x_val, y_val),
        epochs=EPOCHS,
        batch_size=batch_size,
        verbose=0,
    )
    return history.history


tuned_model = build_model()
if recipe.kernel_regularizer is not None:
    tuned_model = apply_regularization(
        tuned_model, kernel_regularizer=recipe.kernel_regularizer, layers=recipe.regularize_layers
    )
tuned = train(tuned_model, recipe.optimizer, recipe.batch_size)
baseline = train(build_model(), keras.optimizers.Adam(1e-3), BATCH_SIZE)

print(f"{EPOCHS} epochs from the same initial weights")
print(f"{'recipe':<28}  {'train loss':>10}  {'val accuracy':>12}  {'best epoch':>10}")
label = f"tuned: {best['optimizer']} + {best['schedule']}"
for name, history in ((label, tuned), ("baseline: Keras Adam(1e-3)", baseline)):
    print(
        f"{name:<28}  {history['loss'][-1]:>10.4f}  {history['val_accuracy'][-1]:>12.4f}  "
        f"{max(history['val_accuracy']):>10.4f}"
    )

# %% [markdown]
# ## Cleaning up
#
# The search's files are no longer needed (`result.best_model()` would read them: call it before this).

# %%
shutil.rmtree(tuner_directory, ignore_errors=True)
print(f"removed {tuner_directory}")
