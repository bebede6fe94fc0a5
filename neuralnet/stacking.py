"""Several networks fitted as one stack: what the estimators hand over, and the function that trains them.

An estimator's ``fit`` prepares its network(s) as :class:`FitJob` s - data validated, targets encoded,
weights initialised, validation rows held out - and :func:`fit_together` trains all the jobs that can share a
stack at once (:mod:`neuralnet.trainer`), then hands each result back to its estimator. A single ``fit`` is
``fit_together`` of one; an ensemble hands over its members' jobs; the training run hands over a model's
cross-validation folds. Each network gets exactly the weights its own ``fit`` gives (tested).
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from neuralnet.activations import Array
from neuralnet.network import Params, wrap
from neuralnet.optimizers import make_optimizer
from neuralnet.trainer import TrainingConfig, train

if TYPE_CHECKING:
    from neuralnet.base import BaseNeuralNet


@dataclass(frozen=True)
class FitJob:
    """One estimator's network, prepared for training: what :func:`fit_together` stacks."""

    estimator: "BaseNeuralNet"
    X: Array
    Y: Array
    validation: tuple[Array, Array] | None
    rng: np.random.RandomState
    params: Params
    config: TrainingConfig
    optimizer: tuple[str, tuple[tuple[str, Any], ...]]
    attributes: dict[str, Any]  # set on the estimator once trained (the classifier's ``classes_``)

    def stack_key(self) -> tuple[Any, ...]:
        """Jobs with equal keys train as one stack: same settings, architecture and data shapes."""
        shapes = (self.X.shape, self.Y.shape, None if self.validation is None else self.validation[0].shape)
        return (self.config, self.optimizer, tuple(self.params.layer_sizes), self.params.fit_intercept, shapes)


class Stackable(Protocol):
    """An estimator whose fit is one or more network trainings, which :func:`fit_together` may stack with others."""

    def _fit_jobs(self, X: Any, y: Any) -> tuple[list[FitJob], Callable[[], None]]:
        """Validate ``X, y`` and prepare the networks to train, with what to do once they are all trained."""
        ...


def can_fit_together(estimator: object) -> bool:
    """Whether ``estimator`` is :class:`Stackable` (a network, or an ensemble of networks)."""
    return callable(getattr(estimator, "_fit_jobs", None))


def fit_together(estimators: Sequence[Stackable], data: Sequence[tuple[Any, Any]]) -> None:
    """Fit ``estimators[k]`` on ``data[k] = (X, y)`` for every k, training as many networks at once as can be.

    Networks with the same hyper-parameters (``random_state`` aside) and data shapes train as one stack
    (:mod:`neuralnet.trainer`), which costs far less than one network after the other and gives each
    exactly the weights its own ``fit`` gives: the members of an ensemble, one model's cross-validation
    folds, or both.
    """
    prepared = [estimator._fit_jobs(X, y) for estimator, (X, y) in zip(estimators, data, strict=True)]
    groups: dict[tuple[Any, ...], list[FitJob]] = {}
    for jobs, _ in prepared:
        for job in jobs:
            groups.setdefault(job.stack_key(), []).append(job)
    for group in groups.values():
        _train_stack(group)
    for _, finish in prepared:
        finish()


def _train_stack(jobs: list[FitJob]) -> None:
    """Train jobs of one stack key as one stack, and hand each result back to its estimator."""
    first = jobs[0]
    params = wrap(np.vstack([job.params.flat for job in jobs]), first.params.layer_sizes, first.params.fit_intercept)
    held_out = [job.validation for job in jobs if job.validation is not None]  # all or none: same stack key
    validation = (np.stack([v[0] for v in held_out]), np.stack([v[1] for v in held_out])) if held_out else None
    name, settings = first.optimizer
    optimizer = make_optimizer(name, params.flat.shape, **dict(settings))
    X, Y = np.stack([job.X for job in jobs]), np.stack([job.Y for job in jobs])
    results = train(params, optimizer, X, Y, first.config, rngs=[job.rng for job in jobs], validation=validation)
    for job, result in zip(jobs, results, strict=True):
        job.estimator._finish_fit(job, result)
