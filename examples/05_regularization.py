# %% [markdown]
# # Regularization you can add late and change while training
#
# Keras 3 has two gaps around weight regularizers. A regularizer set on a layer of a model that is already
# built is silently ignored (the weight was created without it), and a regularizer's strength is a Python
# float frozen into the compiled train step, so it cannot be scheduled.
#
# This example walks through what `keras_optkit.regularizers` does about both, on scikit-learn's bundled
# digits:
#
# 1. `apply_regularization` adds L2 to a model that is already trained; the weights and predictions stay
#    exactly the same, and `model.losses` now holds the penalty.
# 2. `HyperparameterScheduler` anneals that L2 strength to zero during fine-tuning, without recompiling.
# 3. `GroupLasso` penalizes whole hidden units, and drives many of them to (near) zero where plain L2 leaves
#    them alive; the dead units can then be pruned.

# %%
import os
import pathlib

import keras
import matplotlib.pyplot as plt
import numpy as np
from keras import ops

from keras_optkit.callbacks import HyperparameterScheduler
from keras_optkit.demo import build_digits_model, load_digits_split
from keras_optkit.regularizers import L2, GroupLasso, apply_regularization
from keras_optkit.schedules import LinearSchedule

QUICK = os.environ.get("KERAS_OPTKIT_QUICK") == "1"
OUT = pathlib.Path(os.environ.get("KERAS_OPTKIT_OUT", "examples_output"))  # ignored by git
OUT.mkdir(parents=True, exist_ok=True)

SEED = 0
BATCH_SIZE = 32
PRETRAIN_EPOCHS = 1 if QUICK else 5
ANNEAL_EPOCHS = 2 if QUICK else 8
SPARSITY_EPOCHS = 2 if QUICK else 20
print(f"Keras {keras.__version__}, backend {keras.backend.backend()}, quick mode: {QUICK}")

x_train, y_train, x_val, y_val = load_digits_split(seed=SEED)
steps_per_epoch = -(-len(x_train) // BATCH_SIZE)


def penalty_of(model):
    """The sum of the model's regularization losses, as a Python float."""
    return float(sum(float(ops.convert_to_numpy(loss)) for loss in model.losses))


def compile_for_digits(model):
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


# %% [markdown]
# ## 1. A trained model, and the Keras 3 trap
#
# We train the demo MLP (64 -> 128 ReLU -> 10 softmax) without any regularization. Setting
# `kernel_regularizer` on its built layer afterwards changes nothing: `model.losses` stays empty.

# %%
model = compile_for_digits(build_digits_model(seed=SEED))
keras.utils.set_random_seed(SEED)
model.fit(x_train, y_train, epochs=PRETRAIN_EPOCHS, batch_size=BATCH_SIZE, verbose=0)
print(f"trained {PRETRAIN_EPOCHS} epochs, validation accuracy "
      f"{model.evaluate(x_val, y_val, verbose=0, return_dict=True)['accuracy']:.4f}")

model.layers[0].kernel_regularizer = keras.regularizers.L2(1e-3)
print(f"after setting kernel_regularizer on the built layer: {len(model.losses)} regularization losses")
model.layers[0].kernel_regularizer = None  # undo: it did nothing anyway

# %% [markdown]
# ## `apply_regularization` on the trained model
#
# It rebuilds the model with the regularizer attached before the layers are built, then copies every weight
# across. One `L2` instance is shared by all the dense layers, so its strength is one variable for the whole
# model. We check that `model.losses` is now non-zero and that the predictions did not move at all.

# %%
l2 = L2(1e-3)
regularized = apply_regularization(model, kernel_regularizer=l2)

before = model.predict(x_val, verbose=0)
after = regularized.predict(x_val, verbose=0)
print(f"regularization losses: {len(model.losses)} before, {len(regularized.losses)} after")
print(f"L2 penalty of the trained weights at l2={l2.current():g}: {penalty_of(regularized):.5f}")
print(f"largest change in a predicted probability: {np.max(np.abs(before - after)):.1e}")
print(f"predictions identical: {np.array_equal(before, after)}")

# %% [markdown]
# ## 2. Annealing the L2 strength while fine-tuning
#
# `l2.l2` is a `keras.Variable` that the model tracks, so `HyperparameterScheduler` accepts it directly in
# place of an optimizer attribute name: before every step it assigns `schedule(step)` to the variable, and
# the compiled step reads the new value (nothing is retraced). Here the strength falls linearly from 1e-3 to
# 0 over the fine-tuning run (exactly 0 at its last step). The scheduler also writes the strength into the
# epoch logs under the variable's name (`l2`); a small callback records the penalty and the weights' size.


# %%
class PenaltyLog(keras.callbacks.Callback):
    """Records, at the end of each epoch, the penalty and the sum of squared kernel weights."""

    def __init__(self):
        super().__init__()
        self.penalties = []
        self.squared_norms = []

    def on_epoch_end(self, epoch, logs=None):
        model = self.model  # on JAX, reaching the model through the callback syncs its weights
        self.penalties.append(penalty_of(model))
        kernels = [ops.convert_to_numpy(layer.kernel) for layer in model.layers]
        self.squared_norms.append(float(sum(np.sum(k**2) for k in kernels)))


anneal_steps = ANNEAL_EPOCHS * steps_per_epoch
# total_steps is the index of the last step, so that step trains with no penalty at all.
annealing = HyperparameterScheduler(l2.l2, LinearSchedule(1e-3, 0.0, total_steps=anneal_steps - 1))
penalty_log = PenaltyLog()
compile_for_digits(regularized)
keras.utils.set_random_seed(SEED)
anneal_history = regularized.fit(
    x_train,
    y_train,
    validation_data=(x_val, y_val),
    epochs=ANNEAL_EPOCHS,
    batch_size=BATCH_SIZE,
    verbose=0,
    callbacks=[annealing, penalty_log],
).history

print(
    f"{'epoch':>5}  {'l2 (last step)':>14}  {'penalty':>8}  {'sum w^2':>8}  {'loss':>7}  {'val accuracy':>12}"
)
for epoch in range(ANNEAL_EPOCHS):
    print(
        f"{epoch + 1:>5}  {anneal_history['l2'][epoch]:>14.2e}  {penalty_log.penalties[epoch]:>8.5f}  "
        f"{penalty_log.squared_norms[epoch]:>8.2f}  {anneal_history['loss'][epoch]:>7.4f}  "
        f"{anneal_history['val_accuracy'][epoch]:>12.4f}"
    )
print(f"strength after training: l2={l2.current():.2e}")

# %% [markdown]
# ## 3. Group lasso: whole units switched off
#
# `GroupLasso(strength)` adds `strength * sqrt(group size) * sum over units of ||incoming weights of the
# unit||`. Unlike L2, whose pull on a weight shrinks with the weight, the group norm keeps pulling a unit's
# whole weight vector towards zero with the same force, so units the network can do without are switched
# off entirely.
#
# Two fresh copies of the model (just built, same initial weights) are trained the same way, one with L2 and
# one with GroupLasso on the hidden layer only (`layers=` takes a regex on layer names or a predicate). A
# unit counts as (near) zero when the norm of its incoming weights is below 1% of the largest one.
#
# A few ReLU units of the initial network fire on (almost) no training image: they get no gradient from the
# data, so any penalty, L2 included, decays them. The table counts separately the units that were alive at
# the start (active on more than 1% of the images): only group lasso switches those off.

# %%
fresh = build_digits_model(seed=SEED)
hidden_layer = fresh.layers[0]
initial_kernel = ops.convert_to_numpy(hidden_layer.kernel)
initial_bias = ops.convert_to_numpy(hidden_layer.bias)
alive_at_start = np.mean(x_train @ initial_kernel + initial_bias > 0, axis=0) > 0.01


def train_with(regularizer):
    sparse_model = apply_regularization(
        fresh, kernel_regularizer=regularizer, layers=lambda layer: layer is hidden_layer
    )
    compile_for_digits(sparse_model)
    keras.utils.set_random_seed(SEED)
    sparse_model.fit(
        x_train, y_train, epochs=SPARSITY_EPOCHS, batch_size=BATCH_SIZE, verbose=0
    )
    kernel = ops.convert_to_numpy(sparse_model.layers[0].kernel)  # (64 inputs, 128 units)
    return sparse_model, np.linalg.norm(kernel, axis=0)


runs = {"L2(1e-3)": train_with(L2(1e-3)), "GroupLasso(1e-3)": train_with(GroupLasso(1e-3))}
threshold = 0.01 * max(norms.max() for _, norms in runs.values())
print(f"{SPARSITY_EPOCHS} epochs each; near zero = incoming-weight norm < {threshold:.4f}")
print(f"{int(np.sum(~alive_at_start))} of {alive_at_start.size} hidden units were (almost) dead at the start")
print(f"{'regularizer':<17}  {'units near zero':>15}  {'alive at start':>14}  {'val accuracy':>12}")
for name, (sparse_model, norms) in runs.items():
    accuracy = sparse_model.evaluate(x_val, y_val, verbose=0, return_dict=True)["accuracy"]
    near_zero = norms < threshold
    print(
        f"{name:<17}  {int(near_zero.sum()):>15}  {int(np.sum(near_zero & alive_at_start)):>14}  "
        f"{accuracy:>12.4f}"
    )

# %% [markdown]
# ## Pruning the switched-off units
#
# A unit with (near) zero incoming weights outputs the constant `relu(bias)`. Folding that constant into the
# output layer's bias removes the unit exactly. We build the smaller network from the group-lasso model's
# weights and check that its accuracy is the same.

# %%
sparse_model, norms = runs["GroupLasso(1e-3)"]
# `layer.weights` would also list the regularizer's strength variable: take kernel and bias by name.
hidden, output = sparse_model.layers
kernel, bias = ops.convert_to_numpy(hidden.kernel), ops.convert_to_numpy(hidden.bias)
out_kernel, out_bias = ops.convert_to_numpy(output.kernel), ops.convert_to_numpy(output.bias)
keep = norms >= threshold
folded_bias = out_bias + np.maximum(bias[~keep], 0.0) @ out_kernel[~keep]

pruned = keras.Sequential(
    [
        keras.Input(shape=(64,)),
        keras.layers.Dense(int(keep.sum()), activation="relu"),
        keras.layers.Dense(10, activation="softmax"),
    ]
)
pruned.set_weights([kernel[:, keep], bias[keep], out_kernel[keep], folded_bias])
compile_for_digits(pruned)
full_accuracy = sparse_model.evaluate(x_val, y_val, verbose=0, return_dict=True)["accuracy"]
pruned_accuracy = pruned.evaluate(x_val, y_val, verbose=0, return_dict=True)["accuracy"]
# Trainable weights only: `count_params()` would also count the regularizer's strength variable.
sizes = [sum(int(np.prod(w.shape)) for w in m.trainable_weights) for m in (sparse_model, pruned)]
print(f"hidden units: {keep.size} -> {int(keep.sum())}; parameters: {sizes[0]} -> {sizes[1]}")
print(f"validation accuracy: {full_accuracy:.4f} before pruning, {pruned_accuracy:.4f} after")

# %% [markdown]
# ## Pictures
#
# Left: the annealed L2 strength and the size of the weights (sum of squares), per epoch: the weights grow
# as the penalty is relaxed. Right: the norm of every hidden unit's incoming weights, sorted, for the L2 and
# the group-lasso runs (log scale; the dotted line is the "near zero" threshold).

# %%
figure, (left, right) = plt.subplots(1, 2, figsize=(12, 4.2))
epochs_axis = np.arange(1, ANNEAL_EPOCHS + 1)
left.plot(epochs_axis, anneal_history["l2"], marker="o", color="tab:blue", label="L2 strength (last step)")
left.set_xlabel("fine-tuning epoch")
left.set_ylabel("L2 strength", color="tab:blue")
norm_axis = left.twinx()
norm_axis.plot(epochs_axis, penalty_log.squared_norms, marker="s", color="tab:red")
norm_axis.set_ylabel("sum of squared kernel weights", color="tab:red")
left.set_title("L2 annealed by HyperparameterScheduler")
left.grid(True, alpha=0.3)

for name, (_, unit_norms) in runs.items():
    right.plot(np.sort(unit_norms)[::-1], marker=".", linewidth=1, label=name)
right.axhline(threshold, color="0.4", linestyle=":", label="near-zero threshold")
right.set_yscale("log")
right.set_xlabel("hidden unit (sorted by norm)")
right.set_ylabel("norm of incoming weights")
right.set_title("Per-unit weight norms: L2 vs GroupLasso")
right.legend()
right.grid(True, which="both", alpha=0.3)
figure.tight_layout()
path = OUT / "regularization.png"
figure.savefig(path, dpi=110)
print(f"Wrote {path}")
plt.show()
