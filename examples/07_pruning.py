# %% [markdown]
# # Magnitude pruning: a digits MLP at 90 % sparsity
#
# `keras_optkit.pruning` removes the weights that matter least, on TensorFlow, JAX and PyTorch alike. In this
# notebook we train a small MLP on scikit-learn's bundled digits, then:
#
# 1. prune it **gradually** to 90 % sparsity with the `MagnitudePruning` callback and Zhu & Gupta's cubic
#    schedule, while it keeps training;
# 2. compare with **one-shot** pruning (`prune`) followed by the same fine-tuning;
# 3. check the zeros with `sparsity_report`, and `strip_pruning` the model into a plain Keras model that
#    loads without this package;
# 4. prune whole hidden **units** and `shrink` the model into a smaller one with the same predictions.

# %%
import os
import pathlib

import keras
import matplotlib.pyplot as plt
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
from keras_optkit.viz import plot_schedule

QUICK = os.environ.get("KERAS_OPTKIT_QUICK") == "1"
OUT = pathlib.Path(os.environ.get("KERAS_OPTKIT_OUT", "examples_output"))  # ignored by git
OUT.mkdir(parents=True, exist_ok=True)

PRETRAIN = 2 if QUICK else 15
FINETUNE = 3 if QUICK else 15
BATCH_SIZE = 64
SPARSITY = 0.9
print(f"Keras {keras.__version__}, backend {keras.backend.backend()}, quick mode: {QUICK}")

x_train, y_train, x_val, y_val = load_digits_split(seed=0)
steps_per_epoch = int(np.ceil(len(x_train) / BATCH_SIZE))


def build_model() -> keras.Model:
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((64,)),
        keras.layers.Dense(256, activation="relu", name="hidden1"),
        keras.layers.Dense(128, activation="relu", name="hidden2"),
        keras.layers.Dense(10, name="out"),
    ])
    compile_model(model)
    return model


def compile_model(model: keras.Model) -> None:
    model.compile(keras.optimizers.Adam(2e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])


def copy_of(model: keras.Model) -> keras.Model:
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    compile_model(copy)
    return copy


def accuracy(model: keras.Model) -> float:
    return float(model.evaluate(x_val, y_val, verbose=0)[1])


# %% [markdown]
# ## A dense model to start from
#
# Every run below starts from this model and trains the same number of further epochs, so the only
# difference between them is the pruning.

# %%
dense = build_model()
dense.fit(x_train, y_train, batch_size=BATCH_SIZE, epochs=PRETRAIN, verbose=0)
reference = copy_of(dense)
reference.fit(x_train, y_train, batch_size=BATCH_SIZE, epochs=FINETUNE, verbose=0)
print(f"dense model after {PRETRAIN + FINETUNE} epochs: validation accuracy {accuracy(reference):.4f}")

# %% [markdown]
# ## The sparsity schedule
#
# `PolynomialDecaySparsity` rises from 0 to 90 % over the first two thirds of the fine-tuning, fast at first
# and slowly near the end (a cubic), with the masks recomputed every `frequency` steps; the last third lets
# the network recover at the final sparsity. The steps count the fine-tuning's optimizer updates.

# %%
end_step = max(2 * FINETUNE // 3, 1) * steps_per_epoch
schedule = PolynomialDecaySparsity(0.0, SPARSITY, begin_step=0, end_step=end_step,
                                   frequency=max(end_step // 10, 1))
figure = plot_schedule(schedule, total_steps=FINETUNE * steps_per_epoch)
figure.axes[0].set_title("PolynomialDecaySparsity(0 -> 0.9), power 3")
figure.savefig(OUT / "07_sparsity_schedule.png", dpi=110)
plt.close(figure)
print(schedule)

# %% [markdown]
# ## Gradual pruning during `fit`
#
# The callback keeps a mask per Dense kernel. Inside every compiled train step, right after the optimizer's
# update, the kernel is multiplied by its mask, so a pruned weight stays exactly 0 whatever Adam's moments
# would add to it. The epoch logs get the sparsity. `scope="global"` ranks the weights of all kernels together:
# the large hidden kernel gives up more than the small output layer, whose 10 units need their inputs (with
# the default `scope="layer"` every kernel, the output's included, would lose 90 %).

# %%
gradual = copy_of(dense)
history = gradual.fit(x_train, y_train, batch_size=BATCH_SIZE, epochs=FINETUNE, verbose=0,
                      callbacks=[MagnitudePruning(schedule, scope="global")])
print("sparsity at the end of each epoch:", [round(s, 3) for s in history.history["sparsity"]])
print(f"gradual pruning to {SPARSITY:.0%}: validation accuracy {accuracy(gradual):.4f}")
print(sparsity_report(gradual))

# %% [markdown]
# ## One-shot pruning, then fine-tuning
#
# `prune(model, 0.9, scope="global")` zeroes the 90 % smallest weights over all kernels at once (the
# counterpart of `torch.nn.utils.prune.global_unstructured`); the masks stay attached, so the fine-tuning keeps
# them at 0.

# %%
oneshot = prune(copy_of(dense), SPARSITY, scope="global")
print(f"right after one-shot pruning: validation accuracy {accuracy(oneshot):.4f}")
oneshot.fit(x_train, y_train, batch_size=BATCH_SIZE, epochs=FINETUNE, verbose=0)
print(f"one-shot pruning + {FINETUNE} epochs of fine-tuning: validation accuracy {accuracy(oneshot):.4f}")

# %% [markdown]
# ## A plain model to ship
#
# The pruned models carry their masks (a `.keras` file of them needs this package to load). `strip_pruning`
# returns a plain Keras model with the zeros in its kernels and nothing of `keras_optkit` in its config.

# %%
plain = strip_pruning(gradual)
path = OUT / "07_pruned_digits.keras"
plain.save(path)
loaded = keras.models.load_model(path)
compile_model(loaded)
print(f"{path}: {sparsity_report(loaded)['total']['sparsity']:.2%} of the kernel weights are 0, validation "
      f"accuracy {accuracy(loaded):.4f}")

# %% [markdown]
# ## Pruning whole units, then shrinking
#
# Zeros in a dense kernel save nothing at inference unless a sparse kernel runs them. Pruning whole hidden
# units (`structure="unit"`, by the L2 norm of each unit's weights) does: `shrink` then removes those units
# and the matching inputs of the next layer, giving a smaller dense model with the same predictions.

# %%
units = copy_of(dense)
unit_schedule = PolynomialDecaySparsity(0.0, 0.75, begin_step=0, end_step=end_step,
                                        frequency=max(end_step // 10, 1))
units.fit(x_train, y_train, batch_size=BATCH_SIZE, epochs=FINETUNE, verbose=0,
          callbacks=[MagnitudePruning(unit_schedule, layers="^hidden", structure="unit")])
small = shrink(units)
compile_model(small)
expected = units.predict(x_val, verbose=0)
difference = np.max(np.abs(small.predict(x_val, verbose=0) - expected)) / np.max(np.abs(expected))
print(f"hidden units {dense.layers[0].units}, {dense.layers[1].units} -> {small.layers[0].units}, "
      f"{small.layers[1].units}; parameters {dense.count_params()} -> {small.count_params()}")
print(f"validation accuracy {accuracy(small):.4f}; largest difference to the unit-pruned model's logits: {difference:.1e} of their range")

# %% [markdown]
# ## Side by side
#
# Weights counted in the plain models (`strip_pruning`: the masks, non-trainable variables of the same size as
# the kernels, are not part of what ships).

# %%
rows = [("dense", reference), (f"gradual {SPARSITY:.0%}", gradual), (f"one-shot {SPARSITY:.0%} + fine-tune", oneshot),
        ("75 % of the units, shrunk", small)]
print(f"{'model':<28} {'val accuracy':>12} {'weights':>8} {'nonzero':>8}")
for name, model in rows:
    shipped = strip_pruning(model)
    weights = [np.asarray(keras.ops.convert_to_numpy(w)) for w in shipped.weights]
    nonzero = sum(int(np.count_nonzero(w)) for w in weights)
    print(f"{name:<28} {accuracy(model):>12.4f} {shipped.count_params():>8} {nonzero:>8}")
