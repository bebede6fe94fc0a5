"""Several networks fitted as one stack: the protocol between the estimators and the function that trains them.

An estimator that can be stacked (:class:`Stackable`) prepares its fit as a :class:`FitPlan`: its networks as
:class:`FitJob` s - data validated, targets encoded, weights initialised, validation rows held out - and what
to do with their results. :func:`fit_together` trains all the jobs that can share a stack at once
(:func:`neuralnet.trainer.train_stack`), then hands each plan its results. A single ``fit`` is
``fit_together`` of one; an ensemble's plan holds its members' jobs; the training run hands over a model's
cross-validation folds. Each network gets exactly the weights its own ``fit`` gives (tested).
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from neuralnet.aliases import Array
from neuralnet.network import Params, wrap
from neuralnet.optimizers import make_optimizer
from neuralnet.trainer import LoopResult, LoopSettings, train_stack


@dataclass(frozen=True)
class FitJob:
    """One network, prepared for training: what :func:`fit_together` stacks."""

    X: Array
    Y: Array
    validation: tuple[Array, Array] | None
    rng: np.random.RandomState
    params: Params
    settings: LoopSettings
    optimizer: tuple[str, tuple[tuple[str, Any], ...]]

    def stack_key(self) -> tuple[Any, ...]:
        """Jobs with equal keys train as one stack: same settings, architecture and data shapes."""
        shapes = (self.X.shape, self.Y.shape, None if self.validation is None else self.validation[0].shape)
        return (self.settings, self.optimizer, tuple(self.params.layer_sizes), self.params.fit_intercept, shapes)


@dataclass(frozen=True)
class FitPlan:
    """An estimator's fit, prepared: the networks to train, and ``finish(results)``, which receives their
    results in the order of ``jobs`` and sets the estimator's fitted attributes."""

    jobs: list[FitJob]
    finish: Callable[[list[LoopResult]], None]


@runtime_checkable
class Stackable(Protocol):
    """An estimator whose fit is one or more network trainings, which :func:`fit_together` may stack with others."""

    def prepare_fit(self, X: Any, y: Any) -> FitPlan:
        """Validate ``X, y`` and prepare the networks to train; nothing is fitted until ``finish`` is called."""
        ...


def can_fit_together(estimator: object) -> bool:
    """Whether ``estimator`` is :class:`Stackable` (a network, or an ensemble of networks)."""
    return isinstance(estimator, Stackable)


def combine(plans: Sequence[FitPlan], then: Callable[[], None] = lambda: None) -> FitPlan:
    """One plan training the jobs of all ``plans``: it finishes each of them, then calls ``then``."""

    def finish(results: list[LoopResult]) -> None:
        start = 0
        for plan in plans:
            plan.finish(results[start : start + len(plan.jobs)])
            start += len(plan.jobs)
        then()

    return FitPlan([job for plan in plans for job in plan.jobs], finish)


def fit_together(estimators: Sequence[Stackable], data: Sequence[tuple[Any, Any]]) -> None:
    """Fit ``estimators[k]`` on ``data[k] = (X, y)`` for every k, training as many networks at once as can be.

    Networks with the same hyper-parameters (``random_state`` aside) and data shapes train as one stack
    (:mod:`neuralnet.trainer`), which costs far less than one network after the other and gives each
    exactly the weights its own ``fit`` gives: the members of an ensemble, one model's cross-validation
    folds, or both.
    """
    plan = combine([estimator.prepare_fit(X, y) for estimator, (X, y) in zip(estimators, data, strict=True)])
    plan.finish(train_jobs(plan.jobs))


def train_jobs(jobs: Sequence[FitJob]) -> list[LoopResult]:
    """Train ``jobs``, those of one stack key as one stack; the results come in the order of ``jobs``."""
    groups: dict[tuple[Any, ...], list[int]] = {}
    for position, job in enumerate(jobs):
        groups.setdefault(job.stack_key(), []).append(position)
    results: list[LoopResult | None] = [None] * len(jobs)
    for positions in groups.values():
        for position, result in zip(positions, _train_group([jobs[p] for p in positions]), strict=True):
            results[position] = result
    return [result for result in results if result is not None]


def _train_group(jobs: list[FitJob]) -> list[LoopResult]:
    """Train jobs of one stack key as one stack."""
    first = jobs[0]
    params = wrap(np.vstack([job.params.flat for job in jobs]), first.params.layer_sizes, first.params.fit_intercept)
    held_out = [job.validation for job in jobs if job.validation is not None]  # all or none: same stack key
    validation = (np.stack([v[0] for v in held_out]), np.stack([v[1] for v in held_out])) if held_out else None
    name, settings = first.optimizer
    optimizer = make_optimizer(name, params.flat.shape, **dict(settings))
    X, Y = np.stack([job.X for job in jobs]), np.stack([job.Y for job in jobs])
    rngs = [job.rng for job in jobs]
    return train_stack(params, optimizer, X, Y, first.settings, rngs=rngs, validation=validation)
