"""The request decoder without HTTP: its fast path never accepts what strict validation refuses."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from neuralnet.artifacts import Manifest
from service.errors import ServiceError
from service.protocols.records import RequestDecoder
from service.protocols.schemas import build_request_schemas


@pytest.fixture(scope="module")
def decoder(manifest: Manifest) -> RequestDecoder:
    return RequestDecoder(manifest, build_request_schemas(manifest, 50), 50)


@pytest.fixture(scope="module")
def bodies(
    data_rows: NDArray[np.float64], as_named: Callable[[Any], dict[str, Any]], manifest: Manifest
) -> list[bytes]:
    few, many = data_rows[:3], data_rows[:12]  # below and above the plain-Python threshold
    dataset_names = [feature.name for feature in manifest.features]

    def by_dataset_names(row: NDArray[np.float64]) -> dict[str, float]:
        return dict(zip(dataset_names, row.tolist(), strict=True))

    return [
        json.dumps(as_named(few[0])).encode(),
        json.dumps(by_dataset_names(few[0])).encode(),
        json.dumps({"instances": [by_dataset_names(row) for row in many]}).encode(),
        json.dumps(few[0].tolist()).encode(),
        json.dumps({"instances": [as_named(row) for row in few]}).encode(),
        json.dumps({"instances": few.tolist()}).encode(),
        json.dumps({"instances": [as_named(row) for row in many]}).encode(),
        json.dumps({"instances": many.tolist()}).encode(),
        json.dumps({"instances": many.tolist()}, indent=2).encode(),
    ]


def _slow_or_error(decoder: RequestDecoder, body: bytes) -> NDArray[np.float64] | ServiceError:
    try:
        return decoder.decode_strict(body).matrix
    except ServiceError as error:
        return error


def test_valid_bodies_take_the_fast_path_and_agree_with_strict_validation(
    decoder: RequestDecoder, bodies: list[bytes], data_rows: NDArray[np.float64]
) -> None:
    for body in bodies:
        fast = decoder.decode_fast(body)
        assert fast is not None, body[:80]
        slow = decoder.decode_strict(body)
        np.testing.assert_array_equal(fast.matrix, slow.matrix)
        assert fast.batch == slow.batch
        assert fast.matrix.dtype == np.float64
        assert fast.matrix.flags.c_contiguous
        np.testing.assert_array_equal(fast.matrix, data_rows[: len(fast.matrix)])


def test_the_fast_path_accepts_nothing_strict_validation_refuses(decoder: RequestDecoder, bodies: list[bytes]) -> None:
    """Random byte-level damage to valid bodies: whatever the fast path accepts, strict validation accepts too."""
    generator = random.Random(0)
    tokens = [b'"', b"NaN", b"true", b"null", b",", b"[", b"]", b"{", b"}", b"1", b"-", b"e9", b'"x":1,', b" ", b"\\"]
    accepted = 0
    for _ in range(4000):
        body = bytearray(generator.choice(bodies))
        for _ in range(generator.randint(1, 3)):
            position = generator.randrange(len(body))
            operation = generator.random()
            if operation < 0.4:
                del body[position : position + generator.randint(1, 3)]
            elif operation < 0.8:
                body[position:position] = generator.choice(tokens)
            else:
                start = generator.randrange(len(body))
                body[position:position] = body[start : start + generator.randint(1, 40)]
        fast = decoder.decode_fast(bytes(body))
        if fast is None:
            continue
        accepted += 1
        slow = _slow_or_error(decoder, bytes(body))
        assert not isinstance(slow, ServiceError), (bytes(body), slow.details)
        np.testing.assert_array_equal(fast.matrix, slow)
    assert accepted > 0  # some mutations (in digits, whitespace) keep a body valid


@pytest.mark.parametrize(
    "body",
    [
        b'{"instances": [[1, 2]], "instances": [[1, 2]]}',
        b"[true" + b", 1" * 29 + b"]",
        b"[1e400" + b", 1" * 29 + b"]",
        b'{"instances": "x"}',
        b"[" * 5000 + b"]" * 5000,
    ],
)
def test_suspicious_bodies_fall_back_to_strict_validation(decoder: RequestDecoder, body: bytes) -> None:
    assert decoder.decode_fast(body) is None
    with pytest.raises(ServiceError):
        decoder.decode(body)
