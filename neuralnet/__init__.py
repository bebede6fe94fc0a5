"""From-scratch NumPy neural networks with scikit-learn's estimator API.

- :class:`NeuralNetClassifier`, :class:`NeuralNetRegressor`: one network, trained by backpropagation.
- :class:`NetworkEnsembleClassifier`: the average of several independently seeded networks.
- :func:`make_preset`: the project's named recipes (``"default"``, ``"seed"``).
- :class:`ProbabilityModel`: a validation-free predictor for serving.
"""

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
