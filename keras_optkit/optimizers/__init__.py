"""Optimizers: each a `keras.optimizers.Optimizer`, usable in `model.compile(optimizer=...)`."""

from keras_optkit._registry import RegistryEntry, list_entries
from keras_optkit.optimizers.adabelief import AdaBelief
from keras_optkit.optimizers.adabound import AdaBound
from keras_optkit.optimizers.adan import Adan
from keras_optkit.optimizers.adaptive_gradient_clipping import AdaptiveGradientClipping
from keras_optkit.optimizers.ademamix import AdEMAMix
from keras_optkit.optimizers.adopt import ADOPT
from keras_optkit.optimizers.gradient_centralization import GradientCentralization
from keras_optkit.optimizers.gradient_norm_ratio_sgd import GradientNormRatioSGD
from keras_optkit.optimizers.lars import LARS
from keras_optkit.optimizers.lazy_adam import LazyAdam
from keras_optkit.optimizers.lookahead import Lookahead
from keras_optkit.optimizers.madgrad import MADGRAD
from keras_optkit.optimizers.momentum_sgd import MomentumSGD
from keras_optkit.optimizers.novograd import NovoGrad
from keras_optkit.optimizers.prodigy import Prodigy
from keras_optkit.optimizers.radam import RAdam
from keras_optkit.optimizers.ranger import Ranger
from keras_optkit.optimizers.yogi import Yogi

__all__ = [
    "ADOPT",
    "LARS",
    "MADGRAD",
    "AdEMAMix",
    "AdaBelief",
    "AdaBound",
    "Adan",
    "AdaptiveGradientClipping",
    "GradientCentralization",
    "GradientNormRatioSGD",
    "LazyAdam",
    "Lookahead",
    "MomentumSGD",
    "NovoGrad",
    "Prodigy",
    "RAdam",
    "Ranger",
    "Yogi",
    "list_optimizers",
]


def list_optimizers() -> list[RegistryEntry]:
    """Every registered optimizer with its one-line description and capability flags, sorted by name."""
    return list_entries("optimizer")
