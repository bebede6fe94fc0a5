"""The serving model from the pickled scaler and network, read through the allow-list without their classes.

The trainer pickles a fitted ``StandardScaler`` and a :class:`~neuralnet.classifier.NeuralNetClassifier` or
:class:`~neuralnet.ensemble.NetworkEnsembleClassifier`. Serving needs only their learned arrays, so the
service unpickles them as :class:`~neuralnet.unpickling.PickledObject` stand-ins (nothing of scikit-learn is
imported or run), takes the arrays out of their state and lets :meth:`ProbabilityModel.from_arrays` check that
they make one network: the same arrays :meth:`ProbabilityModel.from_fitted` takes from the live objects, so
both give bit-identical probabilities.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from neuralnet import prediction
from neuralnet.inference import ProbabilityModel
from neuralnet.unpickling import PickledObject, load_allowed, stand_ins

SCALER_CLASS: Final = "sklearn.preprocessing._data.StandardScaler"
NETWORK_CLASS: Final = "neuralnet.classifier.NeuralNetClassifier"
ENSEMBLE_CLASS: Final = "neuralnet.ensemble.NetworkEnsembleClassifier"
MODEL_CLASSES: Final = (NETWORK_CLASS, ENSEMBLE_CLASS)
ALLOWED_CLASSES: Final = (SCALER_CLASS, *MODEL_CLASSES)
"""Every class a model directory's pickles may name (besides NumPy's arrays, dtypes and scalars)."""

_STAND_INS: Final = stand_ins(*ALLOWED_CLASSES)


def read_probability_model(scaler_pickle: bytes, model_pickle: bytes, *, sources: tuple[str, str]) -> ProbabilityModel:
    """The serving model from the bytes of the two pickles; ``sources`` names them in error messages.

    Raises :class:`~neuralnet.unpickling.ForbiddenPickleError` for a pickle that names anything outside
    :data:`ALLOWED_CLASSES`, ``ValueError`` naming the missing or wrong attribute for state that does not make
    the model, or what the pickle module raises for a broken stream.
    """
    scaler = _expect(load_allowed(scaler_pickle, _STAND_INS, source=sources[0]), (SCALER_CLASS,), sources[0])
    model = _expect(load_allowed(model_pickle, _STAND_INS, source=sources[1]), MODEL_CLASSES, sources[1])
    arrays: dict[str, NDArray[Any]] = {**_scaling(scaler), **_network(model)}
    return ProbabilityModel.from_arrays(arrays)


def _expect(obj: object, classes: Sequence[str], source: str) -> PickledObject:
    if not isinstance(obj, PickledObject) or obj.pickled_class not in classes:
        found = obj.pickled_class if isinstance(obj, PickledObject) else type(obj).__name__
        raise ValueError(f"{source} holds a {found}; expected {' or '.join(classes)}")
    return obj


def _attribute(obj: PickledObject, name: str) -> Any:
    try:
        return obj.state[name]
    except KeyError:
        raise ValueError(f"the pickled {obj.pickled_class.rsplit('.', 1)[1]} has no attribute {name!r}") from None


def _scaling(scaler: PickledObject) -> dict[str, NDArray[Any]]:
    """``mean`` and ``scale`` as :meth:`ProbabilityModel.to_arrays` names them: empty when not applied."""
    empty = np.empty(0, dtype=np.float64)
    return {
        "mean": _attribute(scaler, "mean_") if _attribute(scaler, "with_mean") else empty,
        "scale": _attribute(scaler, "scale_") if _attribute(scaler, "with_std") else empty,
    }


def _network(model: PickledObject) -> dict[str, NDArray[Any]]:
    """The layers (an ensemble's members stacked into one wide network), activations and classes."""
    if model.pickled_class == ENSEMBLE_CLASS:
        members = _attribute(model, "estimators_")
        if not isinstance(members, list) or not members:
            raise ValueError("the pickled NetworkEnsembleClassifier has no fitted members")
        for member in members:
            _expect(member, (NETWORK_CLASS,), "an ensemble member")
    else:
        members = [model]
    activations = {(_attribute(m, "activation"), _attribute(m, "out_activation_")) for m in members}
    if len(activations) != 1:
        raise ValueError("the ensemble's members do not share their activations")
    ((activation, output),) = activations
    layers = [(_arrays(m, "coefs_"), _arrays(m, "intercepts_")) for m in members]
    coefs, intercepts = prediction.stack(layers) if len(layers) > 1 else layers[0]
    arrays: dict[str, NDArray[Any]] = {}
    for i, (w, b) in enumerate(zip(coefs, intercepts, strict=True)):
        arrays[f"coef_{i}"], arrays[f"intercept_{i}"] = w, b
    arrays["activation"] = np.array(activation)
    arrays["output_activation"] = np.array(output)
    arrays["n_members"] = np.array(len(members), dtype=np.int64)
    arrays["classes"] = np.asarray(_attribute(model, "classes_"))
    return arrays


def _arrays(member: PickledObject, name: str) -> list[NDArray[Any]]:
    values = _attribute(member, name)
    if not isinstance(values, list) or not all(isinstance(v, np.ndarray) for v in values):
        raise ValueError(f"the pickled NeuralNetClassifier's {name} is not a list of arrays")
    return values
