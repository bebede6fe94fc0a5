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
from service.protocols.records import ArrayBatch, RequestDecoder
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


# Batches of arrays: structure proved on the raw bytes, numbers parsed as one flat array --------------------


def _rows_text(rows: list[list[str]], separator: str = ",") -> bytes:
    return ('{"instances":[' + separator.join("[" + separator.join(row) + "]" for row in rows) + "]}").encode()


@pytest.fixture(scope="module")
def row_texts(data_rows: NDArray[np.float64]) -> list[list[str]]:
    return [[repr(value) for value in row] for row in data_rows[:40].tolist()]


def test_a_batch_of_arrays_is_parsed_flat_to_exactly_the_values_of_the_nested_parse() -> None:
    """Every way of writing a number gives the same float64, bit for bit (the sign of zero included)."""
    generator = random.Random(1)
    spellings = ["0", "-0", "-0.0", "1E+2", "1e-7", "2.5E-3", "123456789012345678901234567890", "5e-324", "1e308"]
    spellings += ["0.30000000000000004", "-17.99", "1.7976931348623157e308", "9007199254740993", "1e-400"]
    for separator in (",", ", "):
        rows = [[generator.choice(spellings) for _ in range(3)] for _ in range(30)]
        body = _rows_text(rows, separator)
        parsed = ArrayBatch(3, 100).values(body)
        assert parsed is not None, body
        n_rows, values = parsed
        flat = np.fromiter(values, dtype=np.float64, count=len(values))
        nested = np.array(json.loads(body)["instances"], dtype=np.float64).ravel()
        assert n_rows == 30
        assert flat.view(np.uint64).tolist() == nested.view(np.uint64).tolist()


def test_compact_and_default_json_batches_take_the_flat_path(
    decoder: RequestDecoder, row_texts: list[list[str]], data_rows: NDArray[np.float64]
) -> None:
    for separator in (",", ", "):
        body = _rows_text(row_texts, separator)
        assert ArrayBatch(30, 50).values(body) is not None
        np.testing.assert_array_equal(decoder.decode(body).matrix, data_rows[:40])
    indented = json.dumps({"instances": data_rows[:40].tolist()}, indent=2).encode()
    assert ArrayBatch(30, 50).values(indented) is None  # left to the general fast path, which takes it
    np.testing.assert_array_equal(decoder.decode(indented).matrix, data_rows[:40])


@pytest.mark.parametrize(
    "damage",
    [
        # ragged rows whose total count is right: 29 values, then 31
        lambda rows: _rows_text([rows[0][:-1], rows[1] + [rows[0][-1]], *rows[2:]]),
        # the last value of a row moved outside it, after its bracket: "...,]17.99,[..."
        lambda rows: _rows_text(rows).replace(f",{rows[0][-1]}],[".encode(), f",]{rows[0][-1]},[".encode(), 1),
        # a value glued to the outside of a bracket: "...]5,[..." and "5[..."
        lambda rows: _rows_text(rows).replace(b"],[", b"]5,[", 1),
        lambda rows: _rows_text(rows).replace(b"],[", b"],5[", 1),
        # two values joined into one by a missing comma: 29 values of which one is "1.52"
        lambda rows: _rows_text([[*rows[0][:28], rows[0][28] + rows[0][29]], *rows[1:]]),
        # a row as a nested array
        lambda rows: _rows_text(rows).replace(b"],[", b"]],[[", 1),
        # strings, literals and a second key
        lambda rows: _rows_text(rows).replace(rows[0][0].encode(), b'"1"', 1),
        lambda rows: _rows_text(rows).replace(rows[0][0].encode(), b"true", 1),
        lambda rows: _rows_text(rows)[:-1] + b',"instances":[]}',
        # not JSON numbers: leading zero, bare exponent, leading plus, a lone minus
        lambda rows: _rows_text(rows).replace(b"[", b"[0", 2),
        lambda rows: _rows_text(rows).replace(b"]", b"e]", 1),
        lambda rows: _rows_text(rows).replace(b"[", b"[+", 2),
        lambda rows: _rows_text([["-", *rows[0][1:]], *rows[1:]]),
    ],
)
def test_a_damaged_batch_of_arrays_is_never_parsed_flat(
    decoder: RequestDecoder, row_texts: list[list[str]], damage: Callable[[list[list[str]]], bytes]
) -> None:
    body = damage([list(row) for row in row_texts])
    assert ArrayBatch(30, 50).values(body) is None
    with pytest.raises(ServiceError) as fast:
        decoder.decode(body)
    with pytest.raises(ServiceError) as strict:
        decoder.decode_strict(body)
    assert str(fast.value) == str(strict.value)


# Batches of records keyed by name --------------------------------------------------------------------------


def _named_batch(records: list[dict[str, Any]]) -> bytes:
    return json.dumps({"instances": records}).encode()


def test_records_in_any_one_key_order_or_mixed_orders_take_the_fast_path(
    decoder: RequestDecoder, data_rows: NDArray[np.float64], as_named: Callable[[Any], dict[str, Any]]
) -> None:
    records = [as_named(row) for row in data_rows[:40]]
    generator = random.Random(2)
    order = list(records[0])
    generator.shuffle(order)
    shuffled = [{name: record[name] for name in order} for record in records]
    mixed = [dict(generator.sample(list(record.items()), len(record))) for record in records]
    for batch in (records, shuffled, mixed):
        decoded = decoder.decode_fast(_named_batch(batch))
        assert decoded is not None
        assert decoded.matrix.flags.c_contiguous
        np.testing.assert_array_equal(decoded.matrix, data_rows[:40])


@pytest.mark.parametrize("value", [True, False, None, "1.5", [1.5], {"x": 1.5}])
def test_a_value_that_is_not_a_number_keeps_a_named_batch_off_the_fast_path(
    decoder: RequestDecoder,
    data_rows: NDArray[np.float64],
    as_named: Callable[[Any], dict[str, Any]],
    names: list[str],
    value: Any,
) -> None:
    records = [as_named(row) for row in data_rows[:40]]
    records[17][names[3]] = value
    body = _named_batch(records)
    assert decoder.decode_fast(body) is None
    with pytest.raises(ServiceError, match=names[3]):
        decoder.decode(body)


def test_a_duplicate_key_keeps_a_named_batch_off_the_fast_path(
    decoder: RequestDecoder, data_rows: NDArray[np.float64], as_named: Callable[[Any], dict[str, Any]], names: list[str]
) -> None:
    body = _named_batch([as_named(row) for row in data_rows[:40]])
    body = body.replace(b"}", f', "{names[0]}": 1.0}}'.encode(), 1)  # the first record names mean_radius twice
    assert decoder.decode_fast(body) is None
    with pytest.raises(ServiceError, match="duplicate"):
        decoder.decode(body)
