"""What one app instance owns: its settings, metrics and model slot, kept in ``app.state.context``."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import HTTPConnection

from service.metrics import Metrics
from service.serving import ModelSlot
from service.settings import Settings


@dataclass(frozen=True, slots=True)
class AppContext:
    settings: Settings
    metrics: Metrics
    models: ModelSlot


def context_of(connection: HTTPConnection) -> AppContext:
    """The context of the app serving ``connection`` (a plain function: no dependency-resolution cost)."""
    context: AppContext = connection.app.state.context
    return context
