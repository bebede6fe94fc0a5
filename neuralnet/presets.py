"""The project's named recipes: ``make_preset("default")`` is what we ship, ``"seed"`` is the tutorial.

``"seed"`` copies the tutorial network hyper-parameter for hyper-parameter (and its weights, given the same
seed); ``"default"`` averages ten small tanh networks with early stopping. Both are classifiers meant to sit
behind a ``StandardScaler`` fitted on the training rows only. How ``"default"`` was chosen, with its
figures: docs/model-selection.md.
"""

from sklearn.base import ClassifierMixin

from neuralnet.classifier import NeuralNetClassifier
from neuralnet.ensemble import NetworkEnsembleClassifier

PRESET_NAMES: tuple[str, ...] = ("default", "seed")


def make_preset(name: str, random_state: int | None = None) -> ClassifierMixin:
    """A new, unfitted classifier for the recipe called ``name`` (one of :data:`PRESET_NAMES`)."""
    if name == "default":
        member = NeuralNetClassifier(
            (32,),
            activation="tanh",
            optimizer="adam",
            learning_rate=3e-3,
            alpha=1e-2,
            batch_size=64,
            max_iter=2000,
            early_stopping=True,
            validation_fraction=0.1,
            n_iter_no_change=10,
        )
        return NetworkEnsembleClassifier(member, n_members=10, random_state=random_state)
    if name == "seed":
        return NeuralNetClassifier(
            (5,),
            activation="sigmoid",
            loss="squared_error",
            optimizer="sgd",
            learning_rate=0.1,
            alpha=0.0,
            batch_size=None,
            max_iter=10_000,
            n_iter_no_change=None,
            init="uniform",
            fit_intercept=False,
            reduction="sum",
            random_state=random_state,
        )
    raise ValueError(f"name must be one of {PRESET_NAMES}; got {name!r}.")
