"""The diagnosis model service (FastAPI). ``create_app(settings)`` builds the app; ``python -m service`` runs it."""

from service.rest.app import create_app
from service.settings import Settings

__all__ = ["Settings", "create_app"]
