"""A lean predictor for serving: standardise, run the network, return class probabilities.

scikit-learn's ``predict_proba`` validates its input on every call (types, finiteness, feature names),
which costs far more than the network itself for one row. The service validates requests against its
own schema, so :class:`ProbabilityModel` keeps only the arithmetic, with every array prepared once.
That arithmetic is not re-implemented: it calls :func:`neuralnet.prediction.predict_proba` with the same
arguments the estimators pass (for an ensemble, its members stacked into one wide network by
:func:`neuralnet.ensemble.stacked_network`), so both paths give bit-identical probabilities.

The model is plain arrays (:meth:`ProbabilityModel.to_arrays`); :meth:`ProbabilityModel.from_arrays` checks
that arrays make one and builds it: the service gives it the arrays read out of the pickles
(:mod:`neuralnet.pickled_model`). This module imports NumPy only - no scikit-learn - so that the service
starts quickly and small; only :meth:`ProbabilityModel.from_fitted`, used offline, imports the estimators.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from neuralnet import prediction
from neuralnet.activations import HIDDEN_ACTIVATIONS
from neuralnet.aliases import Array
from neuralnet.attribution import Attributions, integrated_gradients

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    from neuralnet.classifier import NeuralNetClassifier
    from neuralnet.ensemble import NetworkEnsembleClassifier

Weights = tuple[list[Array], list[Array], str, str, int]
"""``(coefs, intercepts, activation, output_activation, n_members)``, as :func:`stacked_network` returns."""

PROBABILITY_OUTPUTS = ("sigmoid", "softmax")
"""Output activations that give class probabilities: one sigmoid unit for two classes, else a softmax."""

_NON_LAYER_ARRAYS = ("mean", "scale", "activation", "output_activation", "n_members", "classes")


class ProbabilityModel:
    """Class probabilities of a fitted ``StandardScaler`` followed by a fitted network classifier.

    Build it once with :meth:`from_fitted` (or :meth:`from_pipeline`, or :meth:`from_arrays`);
    :meth:`predict_proba` then does no validation at all: ``X`` must be a 2-D float64 array of shape
    ``(n_rows, n_features)`` with the features in training order.

    Attributes
    ----------
    classes : ndarray of shape (n_classes,)
        Class labels, in the order of the ``predict_proba`` columns.
    n_features : int
        Number of input features expected.
    """

    __slots__ = (
        "_activation",
        "_coefs",
        "_intercepts",
        "_mean",
        "_n_members",
        "_negated_output_layer",
        "_output",
        "_scale",
        "classes",
        "n_features",
    )

    def __init__(self, mean: Array | None, scale: Array | None, weights: Weights, classes: NDArray[Any]) -> None:
        self._mean = mean
        self._scale = scale
        self._coefs, self._intercepts, self._activation, self._output, self._n_members = weights
        self.classes = classes
        self.n_features: int = self._coefs[0].shape[0]
        self._negated_output_layer = (
            (-self._coefs[-1], -self._intercepts[-1])
            if self._output == "sigmoid" and self._n_members <= PAIRWISE_BLOCK
            else None
        )

    @classmethod
    def from_fitted(
        cls, scaler: StandardScaler, model: NeuralNetClassifier | NetworkEnsembleClassifier
    ) -> ProbabilityModel:
        """Take the weights out of a fitted scaler and a fitted network classifier or ensemble of them."""
        # Imported here, not at the top: the fitted objects come from scikit-learn, but the service builds
        # its model with from_arrays and must not pay for importing scikit-learn (some 1.5 s and 80 MB).
        from sklearn.preprocessing import StandardScaler  # noqa: PLC0415
        from sklearn.utils.validation import check_is_fitted  # noqa: PLC0415

        from neuralnet.classifier import NeuralNetClassifier  # noqa: PLC0415
        from neuralnet.ensemble import NetworkEnsembleClassifier, stacked_network  # noqa: PLC0415

        if not isinstance(scaler, StandardScaler):
            raise TypeError(f"scaler must be a fitted StandardScaler; got {type(scaler).__name__}.")
        check_is_fitted(scaler)
        weights: Weights
        if isinstance(model, NeuralNetClassifier):
            check_is_fitted(model)
            coefs = [w.copy() for w in model.coefs_]  # a snapshot, whatever happens to the model later
            intercepts = [b.copy() for b in model.intercepts_]
            weights = (coefs, intercepts, model.activation, model.out_activation_, 1)
        elif isinstance(model, NetworkEnsembleClassifier):
            check_is_fitted(model)
            others = {type(m).__name__ for m in model.estimators_ if not isinstance(m, NeuralNetClassifier)}
            if others:
                raise TypeError(f"Ensemble members must be NeuralNetClassifier; got {sorted(others)}.")
            weights = stacked_network(model.estimators_)
        else:
            raise TypeError(
                f"model must be a NeuralNetClassifier or a NetworkEnsembleClassifier; got {type(model).__name__}."
            )
        if weights[0][0].shape[0] != scaler.n_features_in_:
            raise ValueError(
                f"The scaler has {scaler.n_features_in_} features but the model expects {weights[0][0].shape[0]}."
            )
        mean = np.asarray(scaler.mean_, dtype=np.float64) if scaler.with_mean else None
        scale = np.asarray(scaler.scale_, dtype=np.float64) if scaler.with_std else None
        return cls(mean, scale, weights, np.asarray(model.classes_))

    @classmethod
    def from_pipeline(cls, pipeline: Pipeline) -> ProbabilityModel:
        """The same from a fitted ``make_pipeline(StandardScaler(), model)``."""
        from sklearn.pipeline import Pipeline  # noqa: PLC0415  (see from_fitted)

        if not isinstance(pipeline, Pipeline) or len(pipeline.steps) != 2:
            raise TypeError("pipeline must be a fitted two-step Pipeline (StandardScaler, classifier).")
        return cls.from_fitted(pipeline.steps[0][1], pipeline.steps[1][1])

    def to_arrays(self) -> dict[str, NDArray[Any]]:
        """Everything the model holds, as named arrays that ``np.savez`` stores without pickling.

        ``mean``, ``scale`` (empty when the scaler did not centre or scale), ``coef_0``, ``intercept_0``,
        ``coef_1``, ... (the layers, an ensemble's members stacked), ``activation``,
        ``output_activation``, ``n_members`` and ``classes`` (numbers or strings).
        """
        if self.classes.dtype.hasobject:
            raise ValueError("classes must be numbers or strings to be stored without pickling.")
        empty = np.empty(0, dtype=np.float64)
        arrays: dict[str, NDArray[Any]] = {
            "mean": empty if self._mean is None else self._mean,
            "scale": empty if self._scale is None else self._scale,
        }
        for i, (w, b) in enumerate(zip(self._coefs, self._intercepts, strict=True)):
            arrays[f"coef_{i}"] = w
            arrays[f"intercept_{i}"] = b
        arrays["activation"] = np.array(self._activation)
        arrays["output_activation"] = np.array(self._output)
        arrays["n_members"] = np.array(self._n_members, dtype=np.int64)
        arrays["classes"] = self.classes
        return arrays

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, NDArray[Any]]) -> ProbabilityModel:
        """The model :meth:`to_arrays` described, after checking that the arrays make one.

        Raises ``ValueError``, naming the array, for a missing or unknown array, a wrong dtype or shape,
        non-finite weights, an unknown activation, or classes that do not fit the output layer.
        """
        n_layers = sum(1 for name in arrays if name.startswith("coef_"))
        if n_layers == 0:
            raise ValueError("the arrays hold no layer: coef_0 is missing")
        expected = {*_NON_LAYER_ARRAYS, *(f"{kind}_{i}" for kind in ("coef", "intercept") for i in range(n_layers))}
        missing, unknown = sorted(expected - set(arrays)), sorted(set(arrays) - expected)
        if missing or unknown:
            raise ValueError(f"the arrays do not describe a network: missing {missing}, unknown {unknown}")
        activation = _name(arrays, "activation", HIDDEN_ACTIVATIONS)
        output = _name(arrays, "output_activation", PROBABILITY_OUTPUTS)
        n_members = _integer(arrays, "n_members")
        coefs = [_floats(arrays, f"coef_{i}", ndim=2) for i in range(n_layers)]
        intercepts = [_floats(arrays, f"intercept_{i}", ndim=1) for i in range(n_layers)]
        for i, (w, b) in enumerate(zip(coefs, intercepts, strict=True)):
            if i > 0 and w.shape[0] != coefs[i - 1].shape[1]:
                raise ValueError(f"coef_{i} has shape {w.shape}; coef_{i - 1} gives it {coefs[i - 1].shape[1]} inputs")
            if b.shape != (w.shape[1],):
                raise ValueError(f"intercept_{i} has shape {b.shape}; coef_{i} has {w.shape[1]} units")
        n_features, width = coefs[0].shape[0], coefs[-1].shape[1]
        scaling = [_floats(arrays, name, ndim=1) for name in ("mean", "scale")]
        for name, values in zip(("mean", "scale"), scaling, strict=True):
            if values.shape not in ((0,), (n_features,)):
                raise ValueError(f"{name} has shape {values.shape}; expected ({n_features},), or (0,) for none")
        mean, scale = (values if values.size else None for values in scaling)
        if scale is not None and not np.all(scale > 0.0):
            raise ValueError("scale must be positive")

        classes = np.asarray(arrays["classes"])
        if classes.ndim != 1 or classes.dtype.kind not in "biufU" or len(classes) < 2:
            raise ValueError(f"classes must be 1-D, two or more numbers or strings; got {classes.dtype}{classes.shape}")
        if output == "sigmoid" and len(classes) != 2:
            raise ValueError(f"a sigmoid output unit holds two classes; got {len(classes)}")
        units = 1 if output == "sigmoid" else len(classes)  # per member
        if n_members < 1 or width != n_members * units:
            raise ValueError(
                f"{len(classes)} classes in {n_members} member(s) need {n_members * units} {output} output units;"
                f" coef_{n_layers - 1} has {width}"
            )
        return cls(mean, scale, (coefs, intercepts, activation, output, n_members), classes.copy())

    def predict_proba(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        """Probabilities of shape ``(n_rows, n_classes)``, columns in :attr:`classes` order."""
        if X.shape[0] == 1 and self._negated_output_layer is not None:
            return self._predict_row(X)
        return prediction.predict_proba(
            self._coefs,
            self._intercepts,
            self._standardise(X),
            self._activation,
            self._output,
            n_members=self._n_members,
        )

    def _predict_row(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        """:func:`neuralnet.prediction.predict_proba` of one row with sigmoid outputs, bit for bit, in a third of
        the NumPy calls: a call costs more than a row's arithmetic, so the last steps run on the outputs as
        Python floats, with the same IEEE operations in the same order.

        The output layer's weights are stored negated: ``a @ -W + -b`` is exactly ``-(a @ W + b)`` (rounding
        is symmetric in sign), the ``exp(-z)`` the sigmoid needs, without a call to negate ``z``. The sigmoid,
        ``1 / (1 + e)``, and the clip follow on each member's output; the members' mean adds them as NumPy's
        reduction does (:func:`pairwise_sum`) and divides by their number.
        """
        assert self._negated_output_layer is not None
        f = HIDDEN_ACTIVATIONS[self._activation]
        a = self._standardise(X)
        for w, b in zip(self._coefs[:-1], self._intercepts[:-1], strict=True):
            a = a.dot(w)  # the same product as @ (the same BLAS call), without matmul's generalised-ufunc set-up
            a += b
            a = f(a)
        w, b = self._negated_output_layer
        e = a.dot(w)
        e += b
        if max(e.tolist()[0]) > _EXP_OVERFLOW:  # exp(-z) overflows to inf, as the sigmoid allows (1 / (1 + inf) is 0)
            with np.errstate(over="ignore"):
                np.exp(e, out=e)
        else:
            np.exp(e, out=e)
        low, high = prediction.EPS, 1.0 - prediction.EPS
        members = []
        for exp_minus_z in e.tolist()[0]:
            p = 1.0 / (1.0 + exp_minus_z)
            if p < low:  # np.maximum then np.minimum; a NaN stays NaN, as there
                p = low
            elif p > high:
                p = high
            members.append(p)
        p = members[0] if len(members) == 1 else pairwise_sum(members) / len(members)
        return np.array([[1.0 - p, p]])

    def explain(self, X: NDArray[np.float64], class_index: int) -> Attributions:
        """Integrated-gradient attributions of P(``classes[class_index]``) for each row of ``X``, against the
        training mean (:mod:`neuralnet.attribution`). ``X`` as for :meth:`predict_proba`."""
        return integrated_gradients(
            self._coefs,
            self._intercepts,
            self._standardise(X),
            activation=self._activation,
            output_activation=self._output,
            n_members=self._n_members,
            class_index=class_index,
        )

    def _standardise(self, X: NDArray[np.float64]) -> Array:
        # StandardScaler.transform's two in-place steps, on a copy: bit-identical to it.
        Z = X - self._mean if self._mean is not None else X.copy()
        if self._scale is not None:
            Z /= self._scale
        return Z


PAIRWISE_BLOCK = 128
"""NumPy sums up to this many values with eight accumulators, and longer runs by recursive halving."""
_EXP_OVERFLOW = 709.0
"""Above this, ``exp`` nears float64's largest value, and NumPy warns when it overflows."""


def pairwise_sum(values: list[float]) -> float:
    """``np.add.reduce`` of up to :data:`PAIRWISE_BLOCK` values, in its order of additions (its pairwise sum):
    one by one below 8 values, else eight running sums, combined as ``((0+1)+(2+3))+((4+5)+(6+7))``, then
    the remainder one by one. The same order gives the same bits."""
    n = len(values)
    if n < 8:
        total = 0.0
        for value in values:
            total += value
        return total
    r0, r1, r2, r3, r4, r5, r6, r7 = values[:8]
    end = n - n % 8
    for i in range(8, end, 8):
        r0 += values[i]
        r1 += values[i + 1]
        r2 += values[i + 2]
        r3 += values[i + 3]
        r4 += values[i + 4]
        r5 += values[i + 5]
        r6 += values[i + 6]
        r7 += values[i + 7]
    total = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    for value in values[end:]:
        total += value
    return total


def _floats(arrays: Mapping[str, NDArray[Any]], name: str, *, ndim: int) -> Array:
    """A finite float64 array of ``ndim`` dimensions, as a fresh C-contiguous copy."""
    values = np.asarray(arrays[name])
    if values.dtype != np.float64 or values.ndim != ndim:
        raise ValueError(f"{name} must be a {ndim}-D float64 array; got {values.dtype} of shape {values.shape}")
    if not np.all(np.isfinite(values)):
        raise ValueError(f"{name} holds non-finite values")
    return np.array(values, dtype=np.float64, order="C")


def _name(arrays: Mapping[str, NDArray[Any]], name: str, choices: Collection[str]) -> str:
    """A scalar string that is one of ``choices``."""
    value = np.asarray(arrays[name])
    if value.shape != () or value.dtype.kind != "U" or str(value) not in choices:
        raise ValueError(f"{name} must be one of {sorted(choices)}; got {value!r}")
    return str(value)


def _integer(arrays: Mapping[str, NDArray[Any]], name: str) -> int:
    value = np.asarray(arrays[name])
    if value.shape != () or value.dtype.kind not in "iu":
        raise ValueError(f"{name} must be a scalar integer; got {value!r}")
    return int(value)
