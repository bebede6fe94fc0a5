"""Checks of the estimators' hyper-parameters, run at the start of ``fit``.

scikit-learn's convention: ``__init__`` stores its arguments untouched and ``fit`` validates them, so
``set_params`` and ``clone`` stay trivial. Each failed check raises a ``ValueError`` that names the
parameter and repeats the offending value.
"""

from collections.abc import Collection
from numbers import Integral, Real
from typing import Any

import numpy as np

from neuralnet.activations import HIDDEN_ACTIVATIONS
from neuralnet.network import INITIALIZATIONS
from neuralnet.optimizers import OPTIMIZERS

REDUCTIONS = ("mean", "sum")


def check_choice(name: str, value: Any, choices: Collection[Any]) -> None:
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {tuple(choices)}; got {value!r}.")


def check_int(name: str, value: Any, low: int, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, Integral) or value < low:
        none = " or None" if allow_none else ""
        raise ValueError(f"{name} must be an integer >= {low}{none}; got {value!r}.")


def check_real(name: str, value: Any, low: float, high: float, closed: str = "both") -> None:
    """``value`` must be a real number in the interval from ``low`` to ``high``.

    ``closed`` says which ends belong to it: "both", "left", "right" or "neither".
    """
    ok = isinstance(value, Real) and not isinstance(value, bool)
    if ok:
        above = value >= low if closed in ("both", "left") else value > low
        below = value <= high if closed in ("both", "right") else value < high
        ok = bool(above and below)
    if not ok:
        left = "[" if closed in ("both", "left") else "("
        right = "]" if closed in ("both", "right") else ")"
        raise ValueError(f"{name} must be a number in {left}{low}, {high}{right}; got {value!r}.")


def check_bool(name: str, value: Any) -> None:
    if not isinstance(value, bool | np.bool_):
        raise ValueError(f"{name} must be True or False; got {value!r}.")


def hidden_layer_sizes(value: Any) -> tuple[int, ...]:
    """The hidden widths as a tuple; an int means one hidden layer, ``()`` means none (a linear model)."""
    sizes = (value,) if isinstance(value, Integral) else value
    try:
        sizes = tuple(sizes)
    except TypeError:
        sizes = None
    if sizes is None or not all(not isinstance(s, bool) and isinstance(s, Integral) and int(s) >= 1 for s in sizes):
        raise ValueError(f"hidden_layer_sizes must be a sequence of positive integers; got {value!r}.")
    return tuple(int(s) for s in sizes)


def validate_common(params: dict[str, Any]) -> None:
    """Check the hyper-parameters shared by every network estimator (``get_params()`` of one)."""
    hidden_layer_sizes(params["hidden_layer_sizes"])
    check_choice("activation", params["activation"], HIDDEN_ACTIVATIONS)
    check_choice("optimizer", params["optimizer"], OPTIMIZERS)
    check_choice("init", params["init"], INITIALIZATIONS)
    check_choice("reduction", params["reduction"], REDUCTIONS)
    check_real("learning_rate", params["learning_rate"], 0.0, float("inf"), closed="neither")
    check_real("alpha", params["alpha"], 0.0, float("inf"), closed="left")
    check_int("batch_size", params["batch_size"], 1, allow_none=True)
    check_int("max_iter", params["max_iter"], 1)
    check_real("tol", params["tol"], 0.0, float("inf"), closed="left")
    check_int("n_iter_no_change", params["n_iter_no_change"], 1, allow_none=True)
    check_real("validation_fraction", params["validation_fraction"], 0.0, 1.0, closed="neither")
    check_real("dropout", params["dropout"], 0.0, 1.0, closed="left")
    check_real("momentum", params["momentum"], 0.0, 1.0, closed="left")
    check_real("beta_1", params["beta_1"], 0.0, 1.0, closed="left")
    check_real("beta_2", params["beta_2"], 0.0, 1.0, closed="left")
    check_real("rho", params["rho"], 0.0, 1.0, closed="left")
    check_real("epsilon", params["epsilon"], 0.0, float("inf"), closed="neither")
    for name in ("early_stopping", "fit_intercept", "shuffle", "nesterov"):
        check_bool(name, params[name])
