"""From-scratch NumPy neural networks with scikit-learn's estimator API.

- :class:`NeuralNetClassifier`, :class:`NeuralNetRegressor`: one network, trained by backpropagation.
- :class:`NetworkEnsembleClassifier`: the average of several independently seeded networks.
- :func:`make_preset`: the project's named recipes (``"default"``, ``"seed"``).
- :class:`ProbabilityModel`: a validation-free predictor for serving.

The names are imported on first use (PEP 562), so that importing a NumPy-only submodule such as
:mod:`neuralnet.inference` or :mod:`neuralnet.artifacts` - what the service does - does not import the
estimators, and with them scikit-learn.
"""

from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from neuralnet.classifier import NeuralNetClassifier
    from neuralnet.ensemble import NetworkEnsembleClassifier
    from neuralnet.inference import ProbabilityModel
    from neuralnet.presets import PRESET_NAMES, make_preset
    from neuralnet.regressor import NeuralNetRegressor

__all__ = [
    "PRESET_NAMES",
    "NetworkEnsembleClassifier",
    "NeuralNetClassifier",
    "NeuralNetRegressor",
    "ProbabilityModel",
    "make_preset",
]

_SOURCES = {
    "NeuralNetClassifier": "neuralnet.classifier",
    "NetworkEnsembleClassifier": "neuralnet.ensemble",
    "ProbabilityModel": "neuralnet.inference",
    "PRESET_NAMES": "neuralnet.presets",
    "make_preset": "neuralnet.presets",
    "NeuralNetRegressor": "neuralnet.regressor",
}


def __getattr__(name: str) -> object:
    source = _SOURCES.get(name)
    if source is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(source), name)
    globals()[name] = value  # later look-ups find it directly
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
