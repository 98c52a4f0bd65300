"""HyperparameterScheduler: the value each compiled step uses, against NumPy simulations of the update rules."""

import math

import keras
import numpy as np
import pytest
from keras import ops

from keras_optkit.callbacks import HyperparameterScheduler
from keras_optkit.optimizers import Lookahead
from keras_optkit.schedules import LinearSchedule, OneCycle, schedule_values
from tests._models import small_digits_model

N = 8
BATCH = 2  # 4 steps per epoch: the value must change within an epoch, not only between epochs
_rng = np.random.default_rng(0)
X = _rng.normal(size=(N, 3)).astype("float32")
Y = _rng.normal(size=(N, 1)).astype("float32")
W0 = np.array([[0.5], [-1.0], [0.25]])
B0 = np.array([0.1])


class Trajectory(keras.callbacks.Callback):
    """The model's weights after every step."""

    def __init__(self):
        super().__init__()
        self.weights = []

    def on_train_batch_end(self, batch, logs=None):
        self.weights.append([np.array(w, dtype=np.float64) for w in self.model.get_weights()])


def linear_model(optimizer, jit_compile="auto"):
    model = keras.Sequential(
        [
            keras.Input((3,)),
            keras.layers.Dense(
                1,
                kernel_initializer=keras.initializers.Constant(W0),
                bias_initializer=keras.initializers.Constant(B0),
            ),
        ]
    )
    model.compile(optimizer=optimizer, loss="mse", jit_compile=jit_compile)
    return model


def fit(model, epochs, callbacks=()):
    trajectory = Trajectory()
    model.fit(X, Y, batch_size=BATCH, epochs=epochs, shuffle=False, verbose=0,
              callbacks=[*callbacks, trajectory])
    return trajectory.weights


def mse_gradients(params, step, penalty=0.0):
    """Gradients of mean((x w + b - y)^2) + penalty * |w|^2 on the batch of ``step`` (shuffle=False)."""
    start = (step * BATCH) % N
    x, y = X[start:start + BATCH].astype(np.float64), Y[start:start + BATCH].astype(np.float64)
    w, b = params
    residual = x @ w + b - y
    return [2.0 / BATCH * x.T @ residual + 2.0 * penalty * w, 2.0 / BATCH * residual.sum(axis=0)]


def simulate_sgd(steps, lr_at, momentum_at, penalty_at=lambda t: 0.0, weight_decay_at=lambda t: 0.0):
    """Keras SGD: w -= w * wd * lr; velocity = momentum * velocity - lr * g; w += velocity (g taken before the
    decay; plain SGD when momentum_at is None)."""
    params = [W0.copy(), B0.copy()]
    velocity = [np.zeros_like(p) for p in params]
    history = []
    for t in range(steps):
        grads = mse_gradients(params, t, penalty_at(t))
        for i, g in enumerate(grads):
            params[i] = params[i] - params[i] * weight_decay_at(t) * lr_at(t)
            if momentum_at is None:
                params[i] = params[i] - lr_at(t) * g
            else:
                velocity[i] = momentum_at(t) * velocity[i] - lr_at(t) * g
                params[i] = params[i] + velocity[i]
        history.append([p.copy() for p in params])
    return history


def simulate_adam(steps, lr, beta_1_at, beta_2=0.999, epsilon=1e-7, weight_decay_at=None):
    """Keras Adam (AdamW: w -= w * wd * lr first), with beta_1 ** t taken from the current beta_1."""
    params = [W0.copy(), B0.copy()]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    history = []
    for t in range(steps):
        grads = mse_gradients(params, t)
        b1, local = beta_1_at(t), t + 1
        alpha = lr * math.sqrt(1 - beta_2**local) / (1 - b1**local)
        for i, g in enumerate(grads):
            if weight_decay_at is not None:
                params[i] = params[i] - params[i] * weight_decay_at(t) * lr
            m[i] = m[i] + (g - m[i]) * (1 - b1)
            v[i] = v[i] + (g * g - v[i]) * (1 - beta_2)
            params[i] = params[i] - alpha * m[i] / (np.sqrt(v[i]) + epsilon)
        history.append([p.copy() for p in params])
    return history


def assert_trajectories_close(actual, expected):
    assert len(actual) == len(expected)
    for step, (got, want) in enumerate(zip(actual, expected, strict=True)):
        for a, e in zip(got, want, strict=True):
            np.testing.assert_allclose(a, e, rtol=2e-5, atol=1e-6, err_msg=f"after step {step}")


def line(start, end, total):
    return lambda t: start + (end - start) * min(t, total) / total


LR_CASES = {
    "float": (0.05, lambda t: 0.05),
    "schedule": (
        keras.optimizers.schedules.ExponentialDecay(0.05, decay_steps=4, decay_rate=0.5),
        lambda t: 0.05 * 0.5 ** (t / 4),
    ),
}


@pytest.mark.torch_compile
@pytest.mark.parametrize("jit_compile", [False, True])
@pytest.mark.parametrize("learning_rate", sorted(LR_CASES))
def test_sgd_momentum_follows_the_schedule_at_every_step(jit_compile, learning_rate):
    if jit_compile and learning_rate == "schedule" and keras.backend.backend() == "torch":
        pytest.skip("torch.compile costs 40-80 s a case on 2 cores: the float rate is PyTorch's compiled case")
    rate, lr_at = LR_CASES[learning_rate]
    optimizer = keras.optimizers.SGD(rate, momentum=0.5)
    model = linear_model(optimizer, jit_compile)
    callback = HyperparameterScheduler("momentum", LinearSchedule(0.9, 0.1, total_steps=8))
    momentum_at = line(0.9, 0.1, 8)
    history = keras.callbacks.History()
    weights = fit(model, epochs=2, callbacks=[callback, history])
    assert_trajectories_close(weights, simulate_sgd(8, lr_at, momentum_at))

    # The logs hold the value of each epoch's last step; afterwards the float is the last step's value.
    np.testing.assert_allclose(history.history["momentum"], [momentum_at(3), momentum_at(7)], rtol=1e-6)
    assert isinstance(optimizer.momentum, float) and optimizer.momentum == pytest.approx(momentum_at(7))
    assert "apply" not in vars(optimizer)

    # A later fit without the callback runs a fresh step with that constant momentum (velocity carried over).
    more = fit(model, epochs=1)
    constant = simulate_sgd(12, lr_at, lambda t: momentum_at(min(t, 7)))[8:]
    assert_trajectories_close(more, constant)


def test_two_attributes_of_one_optimizer():
    optimizer = keras.optimizers.SGD(0.05, momentum=0.5, weight_decay=0.01)
    model = linear_model(optimizer)
    callbacks = [
        HyperparameterScheduler("momentum", LinearSchedule(0.9, 0.1, total_steps=8)),
        HyperparameterScheduler("weight_decay", lambda step: 0.1 * step),
    ]
    weights = fit(model, epochs=2, callbacks=callbacks)
    expected = simulate_sgd(8, lambda t: 0.05, line(0.9, 0.1, 8), weight_decay_at=lambda t: 0.1 * t)
    assert_trajectories_close(weights, expected)
    assert "apply" not in vars(optimizer)
    assert optimizer.momentum == pytest.approx(0.2) and optimizer.weight_decay == pytest.approx(0.7)


def test_adam_beta_1_scheduled_per_step():
    schedule = keras.optimizers.schedules.CosineDecay(0.95, decay_steps=8, alpha=0.5)

    def beta_1_at(t):
        return 0.95 * (0.5 + 0.5 * 0.5 * (1 + math.cos(math.pi * min(t, 8) / 8)))

    model = linear_model(keras.optimizers.Adam(0.05))
    weights = fit(model, epochs=2, callbacks=[HyperparameterScheduler("beta_1", schedule)])
    assert_trajectories_close(weights, simulate_adam(8, 0.05, beta_1_at))


@pytest.mark.parametrize("jit_compile", [False, True])
def test_adamw_weight_decay_from_a_callable(jit_compile):
    optimizer = keras.optimizers.AdamW(0.05, weight_decay=0.01)
    model = linear_model(optimizer, jit_compile)
    callback = HyperparameterScheduler("weight_decay", lambda step: 0.5 + 0.25 * step)
    weights = fit(model, epochs=2, callbacks=[callback])
    expected = simulate_adam(8, 0.05, lambda t: 0.9, weight_decay_at=lambda t: 0.5 + 0.25 * t)
    assert_trajectories_close(weights, expected)
    assert optimizer.weight_decay == pytest.approx(0.5 + 0.25 * 7)


@pytest.mark.parametrize("wrapper", ["loss_scale", "lookahead"])
def test_attribute_of_a_wrapped_optimizer(wrapper):
    inner = keras.optimizers.SGD(0.05, momentum=0.5)
    if wrapper == "loss_scale":
        optimizer = keras.optimizers.LossScaleOptimizer(inner)
    else:
        optimizer = Lookahead(inner, sync_period=100)  # no synchronization within 8 steps: plain SGD
    model = linear_model(optimizer)
    callback = HyperparameterScheduler("momentum", LinearSchedule(0.9, 0.1, total_steps=8))
    weights = fit(model, epochs=2, callbacks=[callback])
    assert_trajectories_close(weights, simulate_sgd(8, lambda t: 0.05, line(0.9, 0.1, 8)))
    assert inner.momentum == pytest.approx(0.2) and "momentum" not in vars(optimizer)


@pytest.mark.parametrize("outer_decay", [0.01, None])
def test_attribute_is_looked_up_on_the_wrapper_first(outer_decay):
    inner = keras.optimizers.AdamW(0.05, weight_decay=0.004)
    optimizer = Lookahead(inner, weight_decay=outer_decay)
    model = linear_model(optimizer)
    callback = HyperparameterScheduler("weight_decay", lambda epoch: 0.25 * (epoch + 1), frequency="epoch")
    model.fit(X, Y, batch_size=BATCH, epochs=2, shuffle=False, verbose=0, callbacks=[callback])
    owner, other = (optimizer, inner) if outer_decay is not None else (inner, optimizer)
    assert owner.weight_decay == 0.5 and other.weight_decay == (0.004 if outer_decay else None)


class PenalizedLinear(keras.layers.Layer):
    """x w + b with a loss term strength * |w|^2 whose strength is a non-trainable variable."""

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(3, 1), initializer=keras.initializers.Constant(W0))
        self.bias = self.add_weight(shape=(1,), initializer=keras.initializers.Constant(B0))
        self.strength = self.add_weight(shape=(), initializer="zeros", trainable=False, name="strength")

    def call(self, inputs):
        self.add_loss(self.strength * ops.sum(ops.square(self.kernel)))
        return ops.matmul(inputs, self.kernel) + self.bias


@pytest.mark.parametrize("frequency", ["step", "epoch"])
def test_tracked_variable_read_in_the_forward_pass(frequency):
    layer = PenalizedLinear()
    model = keras.Sequential([keras.Input((3,)), layer])
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
    callback = HyperparameterScheduler(layer.strength, lambda i: 0.5 + 0.25 * i, frequency=frequency)
    history = keras.callbacks.History()
    weights = fit(model, epochs=2, callbacks=[callback, history])
    if frequency == "step":
        strength_at = lambda t: 0.5 + 0.25 * t  # noqa: E731
    else:
        strength_at = lambda t: 0.5 + 0.25 * (t // (N // BATCH))  # noqa: E731
    expected = simulate_sgd(8, lambda t: 0.05, None, penalty_at=strength_at)
    # get_weights order: kernel, bias, strength
    assert_trajectories_close([w[:2] for w in weights], expected)
    np.testing.assert_allclose([w[2] for w in weights], [strength_at(t) for t in range(8)], rtol=1e-6)
    assert history.history["strength"] == pytest.approx([strength_at(3), strength_at(7)])


def test_epoch_frequency_sets_the_float_and_retraces_only_on_change(monkeypatch):
    from keras_optkit.callbacks import hyperparameter_scheduler

    retraces = []
    retrace = hyperparameter_scheduler.retrace_train_step
    monkeypatch.setattr(hyperparameter_scheduler, "retrace_train_step",
                        lambda model: retraces.append(model) or retrace(model))
    optimizer = keras.optimizers.SGD(0.05, momentum=0.5)
    model = linear_model(optimizer)
    values = [0.9, 0.9, 0.3]
    callback = HyperparameterScheduler("momentum", lambda epoch: values[epoch], frequency="epoch")
    weights = fit(model, epochs=3, callbacks=[callback])
    expected = simulate_sgd(12, lambda t: 0.05, lambda t: values[t // 4])
    assert_trajectories_close(weights, expected)
    assert len(retraces) == 2  # epoch 0 and epoch 2, where the value changed
    assert optimizer.momentum == 0.3


def torch_one_cycle_momentum(step, total, pct_start, base, top, anneal, three_phase):
    """PyTorch OneCycleLR's momentum, from its documented phases (end steps pT - 1, [2pT - 2,] T - 1)."""
    if three_phase:
        phases = [(pct_start * total - 1, top, base), (2 * pct_start * total - 2, base, top), (total - 1, top, top)]
    else:
        phases = [(pct_start * total - 1, top, base), (total - 1, base, top)]
    start = 0.0
    for index, (end, begin_value, end_value) in enumerate(phases):
        if step <= end or index == len(phases) - 1:
            fraction = (step - start) / (end - start)
            if anneal == "cos":
                return end_value + (begin_value - end_value) / 2 * (math.cos(math.pi * fraction) + 1)
            return (end_value - begin_value) * fraction + begin_value
        start = end
    raise AssertionError


@pytest.mark.parametrize(
    "total,pct_start,base,top,anneal,three_phase",
    [
        (100, 0.3, 0.85, 0.95, "cos", False),
        (37, 0.25, 0.8, 0.99, "linear", False),
        (100, 0.3, 0.85, 0.95, "cos", True),
        (45, 0.2, 0.5, 0.9, "linear", True),
    ],
)
def test_one_cycle_momentum_matches_pytorch(total, pct_start, base, top, anneal, three_phase):
    callback = HyperparameterScheduler.one_cycle_momentum(
        total, base_momentum=base, max_momentum=top, pct_start=pct_start, anneal_strategy=anneal,
        three_phase=three_phase, hyperparameter="beta_1",
    )
    expected = [torch_one_cycle_momentum(t, total, pct_start, base, top, anneal, three_phase) for t in range(total)]
    np.testing.assert_allclose(schedule_values(callback.schedule, total), expected, rtol=1e-6, atol=1e-7)
    assert callback.hyperparameter == "beta_1" and callback.frequency == "step"
    assert float(callback.schedule(total + 10)) == pytest.approx(top)


def test_one_cycle_on_digits(digits_split):
    x_train, y_train, x_val, y_val = digits_split
    x_train, y_train = x_train[:1024], y_train[:1024]
    total = 3 * 1024 // 32
    model = small_digits_model()
    optimizer = keras.optimizers.SGD(OneCycle(0.05, total), momentum=0.9)
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    callback = HyperparameterScheduler.one_cycle_momentum(total)
    history = model.fit(x_train, y_train, batch_size=32, epochs=3, validation_data=(x_val, y_val),
                        verbose=0, callbacks=[callback])
    last_steps = [total // 3 - 1, 2 * total // 3 - 1, total - 1]
    expected = [torch_one_cycle_momentum(t, total, 0.3, 0.85, 0.95, "cos", False) for t in last_steps]
    np.testing.assert_allclose(history.history["momentum"], expected, rtol=1e-6)
    assert optimizer.momentum == pytest.approx(0.95)
    assert history.history["val_accuracy"][-1] > 0.85


def test_serialization_round_trip():
    callback = HyperparameterScheduler("beta_2", LinearSchedule(0.99, 0.999, total_steps=50), frequency="epoch",
                                       verbose=1)
    config = callback.get_config()
    assert set(config) == {"hyperparameter", "schedule", "frequency", "verbose"}
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(callback))
    assert isinstance(restored, HyperparameterScheduler)
    assert restored.get_config() == config
    assert float(restored.schedule(25)) == pytest.approx(0.9945)
    with pytest.raises(TypeError, match="LearningRateSchedule"):
        HyperparameterScheduler("momentum", lambda step: 0.9).get_config()
    with pytest.raises(TypeError, match="keras.Variable"):
        HyperparameterScheduler(keras.Variable(0.0), lambda step: 0.9).get_config()


@pytest.mark.parametrize(
    "kwargs,error,text",
    [
        ({"hyperparameter": 3}, TypeError, "Received: hyperparameter=3"),
        ({"hyperparameter": "beta 1"}, ValueError, "Received: hyperparameter='beta 1'"),
        ({"hyperparameter": "learning_rate"}, ValueError, "LearningRateSchedule"),
        ({"schedule": 0.9}, TypeError, "Received: schedule=0.9"),
        ({"frequency": "batch"}, ValueError, "`frequency` must be one of 'step', 'epoch'. Received: frequency='batch'"),
        ({"verbose": -1}, ValueError, "Received: verbose=-1"),
    ],
)
def test_invalid_arguments(kwargs, error, text):
    arguments = {"hyperparameter": "momentum", "schedule": lambda step: 0.9, **kwargs}
    with pytest.raises(error) as raised:
        HyperparameterScheduler(**arguments)
    assert text in str(raised.value)


@pytest.mark.parametrize(
    "kwargs,text",
    [
        ({"base_momentum": 0.0}, "Received: base_momentum=0.0"),
        ({"max_momentum": 1.0}, "Received: max_momentum=1.0"),
        ({"base_momentum": 0.9, "max_momentum": 0.8}, "`max_momentum` must be >= `base_momentum`"),
        ({"pct_start": 1.5}, "Received: pct_start=1.5"),
    ],
)
def test_invalid_one_cycle_arguments(kwargs, text):
    with pytest.raises(ValueError) as raised:
        HyperparameterScheduler.one_cycle_momentum(100, **kwargs)
    assert text in str(raised.value)


def begin(callback, optimizer):
    model = linear_model(optimizer)
    callback.set_model(model)
    callback.on_train_begin()


def test_errors_found_when_training_starts():
    with pytest.raises(ValueError, match=r"Received: hyperparameter='momentun'. Float attributes: SGD: .*momentum=0.5"):
        begin(HyperparameterScheduler("momentun", lambda s: 0.9), keras.optimizers.SGD(momentum=0.5))
    with pytest.raises(ValueError, match="`weight_decay` is None on Adam.*weight_decay` set"):
        begin(HyperparameterScheduler("weight_decay", lambda s: 0.1), keras.optimizers.Adam())
    with pytest.raises(ValueError, match="momentum=0"):
        begin(HyperparameterScheduler("momentum", lambda s: 0.9), keras.optimizers.SGD())
    with pytest.raises(ValueError, match="variable the model"):
        begin(HyperparameterScheduler(keras.Variable(0.0), lambda s: 0.9), keras.optimizers.SGD())
    uncompiled = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    callback = HyperparameterScheduler("momentum", lambda s: 0.9)
    callback.set_model(uncompiled)
    with pytest.raises(ValueError, match="compiled with an optimizer"):
        callback.on_train_begin()


class PythonNumberSGD(keras.optimizers.SGD):
    """An SGD whose update turns ``momentum`` into a Python number (as third-party optimizers may)."""

    def update_step(self, gradient, variable, learning_rate):
        momentum = float(self.momentum)
        velocity = self.momentums[self._get_variable_index(variable)]
        self.assign(velocity, momentum * velocity - ops.cast(learning_rate, variable.dtype) * gradient)
        self.assign_add(variable, velocity)


def test_optimizer_that_needs_a_python_number_is_refused_per_step():
    # The same refusal on every backend (an eager PyTorch step could take the number, a compiled one could not).
    optimizer = PythonNumberSGD(0.01, momentum=0.9)
    model = linear_model(optimizer)
    with pytest.raises(TypeError, match="frequency='epoch'"):
        model.fit(X, Y, batch_size=BATCH, epochs=1, verbose=0,
                  callbacks=[HyperparameterScheduler("momentum", lambda step: 0.9 + 0.0 * step)])
    assert "apply" not in vars(optimizer) and optimizer.momentum == 0.9  # nothing left behind
    # Per epoch it works: the float is set between epochs. (A fresh model: Keras cannot train a model again
    # after an exception in its first train step.)
    optimizer = PythonNumberSGD(0.01, momentum=0.9)
    model = linear_model(optimizer)
    model.fit(X, Y, batch_size=BATCH, epochs=2, verbose=0,
              callbacks=[HyperparameterScheduler("momentum", lambda epoch: 0.8 + 0.1 * epoch, frequency="epoch")])
    assert optimizer.momentum == pytest.approx(0.9)


def test_verbose_prints_the_value_of_each_epoch(capsys):
    model = linear_model(keras.optimizers.SGD(0.05, momentum=0.5))
    callback = HyperparameterScheduler("momentum", LinearSchedule(0.9, 0.1, total_steps=8), verbose=1)
    fit(model, epochs=2, callbacks=[callback])
    out = capsys.readouterr().out
    assert "Epoch 1: HyperparameterScheduler setting momentum to 0.9." in out
    assert "Epoch 2: HyperparameterScheduler setting momentum to 0.5." in out


def _beta_owner(optimizer):
    """The optimizer (the given one or one it wraps) holding float ``beta_1`` and ``beta_2``, or None."""
    while optimizer is not None:
        if isinstance(getattr(optimizer, "beta_1", None), float) and isinstance(
            getattr(optimizer, "beta_2", None), float
        ):
            return optimizer
        optimizer = getattr(optimizer, "inner_optimizer", None)
    return None


def _adam_family():
    from keras_optkit import list_entries

    names = [entry.name for entry in list_entries("optimizer") if _beta_owner(entry.build()) is not None]
    return ["keras.Adam", *names]


def _build_adam_family(name):
    from keras_optkit import get_entry

    if name == "keras.Adam":
        return keras.optimizers.Adam(0.05)
    return get_entry("optimizer", name).build()


@pytest.mark.parametrize("name", _adam_family())
def test_per_step_betas_equal_a_float_set_before_each_step(name):
    """Both betas scheduled per step (tensors in the compiled step) give the weights of a run that sets each
    step's value as a plain float before that step (one `fit` per step, retraced): on every backend, for every
    optimizer of the Adam family."""
    steps = N // BATCH
    first = _beta_owner(_build_adam_family(name))
    beta_1 = [first.beta_1 * (1.0 - 0.1 * t / steps) for t in range(steps)]
    beta_2 = [first.beta_2 - 0.002 * t / steps for t in range(steps)]

    def table(values):
        return lambda step: ops.take(ops.convert_to_tensor(values, "float32"), ops.cast(step, "int32"))

    model = linear_model(_build_adam_family(name))
    scheduled = fit(model, epochs=1, callbacks=[
        HyperparameterScheduler("beta_1", table(beta_1)), HyperparameterScheduler("beta_2", table(beta_2)),
    ])

    model = linear_model(_build_adam_family(name))
    reference = []
    for t in range(steps):
        callbacks = [
            HyperparameterScheduler("beta_1", lambda epoch: beta_1[epoch], frequency="epoch"),
            HyperparameterScheduler("beta_2", lambda epoch: beta_2[epoch], frequency="epoch"),
        ]
        batch = slice(t * BATCH, (t + 1) * BATCH)
        trajectory = Trajectory()
        model.fit(X[batch], Y[batch], batch_size=BATCH, epochs=t + 1, initial_epoch=t, shuffle=False,
                  verbose=0, callbacks=[*callbacks, trajectory])
        reference += trajectory.weights
    assert _beta_owner(model.optimizer).beta_1 == pytest.approx(beta_1[-1])
    for step, (got, want) in enumerate(zip(scheduled, reference, strict=True)):
        for a, e in zip(got, want, strict=True):
            # float32 logarithms of the scheduled betas against float64 ones of the floats: ~1e-5 relative
            np.testing.assert_allclose(a, e, rtol=1e-4, atol=1e-6, err_msg=f"{name} after step {step}")
