"""Type aliases shared across the package (and by the code that calls it)."""

from collections.abc import Callable
from typing import Literal

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]
"""A float64 array: data, weights, gradients, probabilities."""

ActivationFunction = Callable[[Array], Array]

Reduction = Literal["mean", "sum"]
"""Whether a batch's loss (and gradient) is the mean or the sum over its rows."""
