"""Reading joblib pickles through an allow-list: a pickle that names anything else is refused before it runs.

Unpickling runs code: a pickle may name any importable callable (``os.system``, say) and call it. This reader
resolves every name the pickle asks for through a table of allowed classes, plus the few NumPy names that
describe an array or a scalar, and refuses anything else with :class:`ForbiddenPickleError` at the moment the
name is read, before the call that would use it. The table decides what the names become: the real classes
(offline tools) or :class:`PickledObject` stand-ins that only keep the pickled state, so the service reads the
estimators' arrays without importing or running scikit-learn.

joblib writes each NumPy array as a small ``NumpyArrayWrapper`` record (dtype, shape, order) followed by the
raw bytes in the stream; this reader reads those bytes itself instead of importing joblib (its import pulls in
its process pools: 12 MB and 80 ms per service worker) and accepts only plain numeric, boolean and string
dtypes, so no array can smuggle in a nested pickle. Compressed joblib files are not read.
"""

from __future__ import annotations

import io
import math
import pickle
from collections.abc import Mapping
from typing import Any, ClassVar, Final

import numpy as np

ARRAY_RECORD: Final = "joblib.numpy_pickle.NumpyArrayWrapper"
_PLAIN_DTYPE_KINDS: Final = "biufU"
"""Booleans, integers, floats and Unicode strings: array bytes that are data, never objects."""
_NUMPY_SCALAR: Final = np.float64(0.0).__reduce__()[0]
"""The function NumPy pickles its scalars with (found through the pickle protocol, not NumPy's private modules)."""
_NUMPY_NAMES: Final = {
    "numpy.dtype": np.dtype,
    # A NumPy scalar (e.g. a scaler's n_samples_seen_) as its dtype and raw bytes; 1.x and 2.x module paths.
    "numpy.core.multiarray.scalar": _NUMPY_SCALAR,
    "numpy._core.multiarray.scalar": _NUMPY_SCALAR,
}
# The pure-Python unpickler: unlike pickle.Unpickler (C), its opcode table can be extended, which reading
# joblib's arrays needs; the standard library names it privately.
_PurePythonUnpickler = pickle._Unpickler  # noqa: SLF001


class ForbiddenPickleError(pickle.UnpicklingError):
    """The pickle names a class or callable outside the allow-list, or is not in the expected format."""


class PickledObject:
    """An instance of an allowed class, rebuilt without its class: the class's import path and the pickled state.

    Create one subclass per allowed class with :func:`stand_ins`; pickle's ``NEWOBJ`` makes an empty
    instance and ``BUILD`` hands it the state dict, which is all this keeps.
    """

    pickled_class: ClassVar[str] = ""

    def __init__(self) -> None:
        self.state: dict[str, Any] = {}

    def __setstate__(self, state: object) -> None:
        if not isinstance(state, dict) or not all(isinstance(key, str) for key in state):
            raise ForbiddenPickleError(f"the state of {self.pickled_class} is not a dict of attributes")
        self.state = state


def stand_ins(*class_paths: str) -> dict[str, type]:
    """An allow-list table mapping each ``module.Class`` path to its own :class:`PickledObject` subclass."""
    return {
        path: type(path.rsplit(".", 1)[1], (PickledObject,), {"pickled_class": path, "__slots__": ()})
        for path in class_paths
    }


def load_allowed(data: bytes, allowed: Mapping[str, type], *, source: str) -> Any:
    """The object pickled (by ``joblib.dump``, uncompressed) in ``data``, built only from ``allowed`` classes.

    ``source`` names the file in error messages. Raises :class:`ForbiddenPickleError` for a name outside the
    table, an array of objects, a compressed or truncated file; other ``pickle.UnpicklingError``,
    ``ValueError`` or ``EOFError`` for a stream that is merely broken.
    """
    if not data.startswith(b"\x80"):  # the PROTO opcode; joblib's compressed files start with their codec's magic
        raise ForbiddenPickleError(f"{source} is not an uncompressed joblib pickle")
    stream = io.BytesIO(data)
    return _AllowListUnpickler(stream, allowed, source).load()


class _ArrayRecord:
    """What joblib pickles in place of an array; its bytes follow in the stream (read by ``_load_build``)."""

    def __setstate__(self, state: object) -> None:
        self.state = state


class _ArrayClass:
    """Stands for ``numpy.ndarray`` where joblib records an array's class: named, never called to make data."""


class _AllowListUnpickler(_PurePythonUnpickler):
    """The pure-Python unpickler (its opcode table can be extended) with names resolved through a table."""

    dispatch = _PurePythonUnpickler.dispatch.copy()

    def __init__(self, stream: io.BytesIO, allowed: Mapping[str, type], source: str) -> None:
        super().__init__(stream)
        self._stream = stream
        self._names: dict[str, object] = {
            **_NUMPY_NAMES,
            "numpy.ndarray": _ArrayClass,
            ARRAY_RECORD: _ArrayRecord,
            **allowed,
        }
        self._source = source

    def find_class(self, module: str, name: str) -> Any:
        path = f"{module}.{name}"
        try:
            return self._names[path]
        except KeyError:
            raise ForbiddenPickleError(
                f"{self._source} names {path}, which a model file may not contain; nothing in it was run"
            ) from None

    def _load_build(self) -> None:
        """``BUILD``, then, if it completed an array record, replace the record by the array read after it."""
        _PurePythonUnpickler.dispatch[pickle.BUILD[0]](self)  # type: ignore[arg-type]
        stack: list[Any] = self.stack  # type: ignore[attr-defined]
        if isinstance(stack[-1], _ArrayRecord):
            stack[-1] = self._read_array(stack[-1].state)

    dispatch[pickle.BUILD[0]] = _load_build  # type: ignore[assignment]

    def _read_array(self, state: object) -> np.ndarray[Any, Any]:
        """The array that joblib's ``NumpyArrayWrapper.write_array`` wrote after the record, as a fresh copy."""
        if not isinstance(state, dict):
            raise ForbiddenPickleError(f"{self._source} holds a malformed array record")
        dtype, shape, order = state.get("dtype"), state.get("shape"), state.get("order")
        if not isinstance(dtype, np.dtype) or dtype.kind not in _PLAIN_DTYPE_KINDS or dtype.fields is not None:
            raise ForbiddenPickleError(f"{self._source} holds an array of {dtype!r}; only plain dtypes are read")
        if (
            not isinstance(shape, tuple)
            or not all(type(n) is int and n >= 0 for n in shape)
            or order not in ("C", "F")
            or state.get("subclass") is not _ArrayClass
        ):
            raise ForbiddenPickleError(f"{self._source} holds a malformed array record")
        stream = self._stream
        if state.get("numpy_array_alignment_bytes") is not None:  # joblib >= 1.2: a length byte, then padding
            padding = stream.read(1)
            stream.read(padding[0] if padding else 0)
        size = math.prod(shape) * dtype.itemsize
        raw = stream.read(size)
        if len(raw) != size:
            raise ForbiddenPickleError(f"{self._source} ends inside an array: it is truncated")
        flat = np.frombuffer(raw, dtype=dtype)
        array = flat.reshape(shape[::-1]).T if order == "F" else flat.reshape(shape)
        return np.array(array, dtype=dtype.newbyteorder("="), order="C")
