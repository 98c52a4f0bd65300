"""Per-step values for an optimizer's float hyperparameters: the optimizer's `apply` is shadowed during `fit` so
that, while each step runs (or is traced), an attribute such as `momentum` holds a tensor computed in the step."""

from __future__ import annotations

import numbers
import operator
from collections.abc import Callable
from typing import Any

import keras
from keras import ops

STEP_HOOKS = "_keras_optkit_step_hooks"
PREVIOUS_APPLY = "_keras_optkit_previous_apply"


class _FrozenValueError(TypeError):
    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name


class _StepValue:
    """Stands in for an optimizer's float attribute while one training step runs (or is traced).

    Arithmetic and Keras ops see the scheduled tensor: ``__tf_tensor__`` and ``__jax_array__`` are the conversion
    protocols Keras's own variables use; on PyTorch, ``__torch_function__`` hands the tensor to torch functions
    (Keras's torch optimizers call ``torch._foreach_mul_(buffers, self.momentum)``), and ``keras.ops``, which
    converts foreign objects through NumPy there, gets the value through ``__array__`` (a device-to-host copy).
    Comparisons with numbers and ``bool()`` decide the *structure* of the step (SGD keeps momentum slots only
    when ``momentum != 0``), so they see the float the optimizer holds. Conversion to a Python number would freeze
    one value into a compiled TensorFlow or JAX step: it is refused on every backend, so that an optimizer that
    can be scheduled per step on one backend can be on all three.
    """

    __array_ufunc__ = None  # NumPy scalars then defer to the reflected operators below
    dtype = "float32"
    shape = ()

    def __init__(self, tensor: Any, static_value: float, name: str, owner: str) -> None:
        self.tensor = tensor
        self.static_value = static_value
        self.name = name
        self.owner = owner

    def __tf_tensor__(self, dtype: Any = None, name: Any = None) -> Any:
        return self.tensor if dtype is None else ops.cast(self.tensor, dtype)

    def __jax_array__(self) -> Any:
        return self.tensor

    @classmethod
    def __torch_function__(cls, func: Callable, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        return func(*_unwrap(args), **_unwrap(kwargs or {}))

    def __array__(self, dtype: Any = None, copy: Any = None) -> Any:
        # Only PyTorch's `convert_to_tensor` goes through NumPy, and its steps are never frozen (eager, or
        # torch.compile, which guards on the values it reads); in a TensorFlow or JAX step it would freeze one value.
        if keras.backend.backend() != "torch":
            self._refuse()
        value = ops.convert_to_numpy(self.tensor)
        return value if dtype is None else value.astype(dtype)

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        raise _FrozenValueError(
            self.name,
            f"HyperparameterScheduler sets `{self.name}` of {self.owner} to a tensor inside each training step, "
            f"but {self.owner} turns `{self.name}` into a Python number there, which would freeze one value into "
            "the compiled step. Schedule it with frequency='epoch' instead (the step is then retraced whenever "
            "the value changes).",
        )

    __float__ = __int__ = __index__ = _refuse

    def __bool__(self) -> bool:
        return bool(self.static_value)

    def __neg__(self) -> Any:
        return -self.tensor

    def __repr__(self) -> str:
        return f"<{self.name} of {self.owner}, scheduled per step>"

    __hash__ = object.__hash__


def _unwrap(value: Any) -> Any:
    if isinstance(value, _StepValue):
        return value.tensor
    if isinstance(value, (list, tuple)):
        return type(value)(_unwrap(item) for item in value)
    if isinstance(value, dict):
        return {key: _unwrap(item) for key, item in value.items()}
    return value


def _arithmetic(op: Callable[[Any, Any], Any]) -> tuple[Callable, Callable]:
    def forward(self: _StepValue, other: Any) -> Any:
        return op(self.tensor, other)

    def reflected(self: _StepValue, other: Any) -> Any:
        return op(other, self.tensor)

    return forward, reflected


def _comparison(op: Callable[[Any, Any], Any]) -> Callable:
    def compare(self: _StepValue, other: Any) -> Any:
        if isinstance(other, numbers.Real):
            return op(self.static_value, other)
        return op(self.tensor, other)

    return compare


for _name, _op in [("add", operator.add), ("sub", operator.sub), ("mul", operator.mul),
                   ("truediv", operator.truediv), ("pow", operator.pow)]:
    _forward, _reflected = _arithmetic(_op)
    setattr(_StepValue, f"__{_name}__", _forward)
    setattr(_StepValue, f"__r{_name}__", _reflected)
for _name, _op in [("eq", operator.eq), ("ne", operator.ne), ("lt", operator.lt),
                   ("le", operator.le), ("gt", operator.gt), ("ge", operator.ge)]:
    setattr(_StepValue, f"__{_name}__", _comparison(_op))


def attach_step_value(owner: keras.optimizers.Optimizer, name: str, value_fn: Callable[[], Any]) -> dict:
    """Shadow ``owner.apply`` so that ``name`` holds ``value_fn()`` while each step runs; returns the hook table.

    Both trainers step through ``apply``: TensorFlow's via ``apply_gradients``, JAX's via ``stateless_apply``,
    where the optimizer's variables (the step counter included) are live. One table serves every scheduled
    attribute of ``owner``.
    """
    installed = vars(owner).get("apply")
    hooks = getattr(installed, STEP_HOOKS, None)
    if hooks is None:
        hooks = {}
        original = owner.apply

        def apply(grads: Any, trainable_variables: Any = None) -> Any:
            held = {}
            try:
                for hooked, make_value in list(hooks.items()):
                    held[hooked] = getattr(owner, hooked)
                    value = _StepValue(make_value(), held[hooked], hooked, type(owner).__name__)
                    setattr(owner, hooked, value)
                return original(grads, trainable_variables)
            except _FrozenValueError as error:
                # This attribute can never be scheduled per step here: leave no hook behind.
                _remove_hook(owner, hooks, error.name)
                raise
            finally:
                for hooked, value in held.items():
                    setattr(owner, hooked, value)

        setattr(apply, STEP_HOOKS, hooks)
        setattr(apply, PREVIOUS_APPLY, installed)
        owner.apply = apply
    hooks[name] = value_fn
    return hooks


def detach_step_value(owner: keras.optimizers.Optimizer, hooks: dict, name: str, value_fn: Callable) -> None:
    if hooks.get(name) == value_fn:  # not when a later scheduler took the attribute over
        _remove_hook(owner, hooks, name)


def _remove_hook(owner: keras.optimizers.Optimizer, hooks: dict, name: str) -> None:
    hooks.pop(name, None)
    installed = vars(owner).get("apply")
    if hooks or getattr(installed, STEP_HOOKS, None) is not hooks:
        return
    previous = getattr(installed, PREVIOUS_APPLY)
    if previous is None:
        del owner.apply
    else:
        owner.apply = previous
