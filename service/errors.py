"""Domain errors that carry their HTTP status (``ModelNotReadyError`` -> 503, invalid input -> 4xx).

They know nothing about the web framework; ``service.handlers`` turns every one into the one JSON shape.
Nothing the client sent is kept except, in ``loc``, the names of offending keys (made safe and shortened),
so a ``NaN`` or a lone surrogate in a request can never break the error path itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

MAX_TEXT = 100
"""Longest client-supplied string (a key name) repeated in an error, in characters."""

Loc = tuple[str | int, ...]


def safe_text(value: object, limit: int = MAX_TEXT) -> str:
    """A short, valid-UTF-8 rendering of a client-supplied string (lone surrogates escaped)."""
    text = value if isinstance(value, str) else str(value)
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


@dataclass(frozen=True, slots=True)
class ErrorDetail:
    """Where (``loc``, a path into the request body) and what (``msg``, ``type``) went wrong."""

    loc: Loc
    msg: str
    type: str

    def as_dict(self) -> dict[str, Any]:
        loc = [part if isinstance(part, int) else safe_text(part) for part in self.loc]
        return {"loc": loc, "msg": safe_text(self.msg, 500), "type": self.type}


class ServiceError(Exception):
    """Base of the errors the service answers with. Subclasses set the HTTP status and a stable code."""

    status_code: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"

    def __init__(
        self, message: str, details: Sequence[ErrorDetail] = (), headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = tuple(details)
        self.headers = dict(headers or {})


class MalformedBodyError(ServiceError):
    status_code = 400
    code = "malformed_json"


class InvalidEncodingError(ServiceError):
    status_code = 400
    code = "invalid_encoding"


class UnauthorizedError(ServiceError):
    status_code = 401
    code = "unauthorized"


class PayloadTooLargeError(ServiceError):
    status_code = 413
    code = "payload_too_large"


class UnsupportedMediaTypeError(ServiceError):
    status_code = 415
    code = "unsupported_media_type"


class InvalidInputError(ServiceError):
    status_code = 422
    code = "invalid_input"


class TooManyRowsError(InvalidInputError):
    """A batch over MAX_BATCH_ROWS: a schema violation (``maxItems``), so 422 like the others, not 413."""

    code = "too_many_rows"


class ModelNotFoundError(ServiceError):
    """A model name or version in the path that this server does not serve."""

    status_code = 404
    code = "model_not_found"


class ModelLoadFailedError(ServiceError):
    """A version asked for by name could not be loaded (the reason is in the details); the old one still serves."""

    status_code = 409
    code = "model_load_failed"


class ModelNotReadyError(ServiceError):
    status_code = 503
    code = "model_not_ready"


class ShuttingDownError(ServiceError):
    """The process is draining after SIGTERM: requests are still answered, but readiness says to go elsewhere."""

    status_code = 503
    code = "shutting_down"


class PredictionFailedError(ServiceError):
    """The model produced no usable output (wrong shape, non-finite values): a fault of the model, not the client."""

    status_code = 500
    code = "prediction_failed"
