"""Big batches read without Python objects: the same numbers as orjson's, and nothing strict validation refuses."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import Any

import numpy as np
import orjson
import pytest
from numpy.typing import NDArray

from neuralnet.artifacts import Manifest
from service.errors import ServiceError
from service.protocols.batches import ArrayBatch, NamedBatch
from service.protocols.numbers import parse_numbers
from service.protocols.records import RequestDecoder
from service.protocols.schemas import build_request_schemas
from tests.service.damage import damaged as random_damage

# JSON numbers written every way the grammar allows, and the edges of float64
SPELLINGS = [
    *("0", "-0", "0.0", "-0.0", "1", "-1", "17.99", "1E+2", "1e-7", "2.5E-3", "1e0", "1E00", "0e5", "-0e-5"),
    *("5e-324", "4.9406564584124654e-324", "2.2250738585072011e-308", "2.2250738585072014e-308", "1e-400"),
    *("1.7976931348623157e308", "1.7976931348623158e308", "1e308", "0.30000000000000004", "0.1", "123.456e-2"),
    *("9007199254740993", "9223372036854775807", "-9223372036854775808", "18446744073709551615"),
    *("3.14159265358979323846264338327950288419716939937510582097494459", "0." + "9" * 400, "1" + "0" * 18),
    *("2.000000000000000111022302462515654042363166809082031250000000001", "7.2057594037927933e16"),
]
# Not JSON numbers, or beyond float64's range: orjson refuses each, and so must the fast path
REFUSED = ["NaN", "-NaN", "Infinity", "-Infinity", "1e400", "-1e400", "1.7976931348623159e308", "01", "-01", "00"]
REFUSED += ["1.", ".5", "+1", "1e", "1e+", "-", "0x10", "1_000", '"1"', "true", "null", "{}", "1 2", "1,", ""]


def _random_number(generator: random.Random) -> str:
    kind = generator.random()
    if kind < 0.3:
        return repr(generator.uniform(-1e3, 1e3))
    if kind < 0.5:
        return repr(generator.lognormvariate(0, 20) * generator.choice((1, -1)))
    if kind < 0.7:
        return str(generator.randint(-(1 << 63), (1 << 63) - 1))
    digits = "".join(generator.choice("0123456789") for _ in range(generator.randint(1, 40))).lstrip("0") or "0"
    fraction = "".join(generator.choice("0123456789") for _ in range(generator.randint(1, 40)))
    exponent = generator.randint(-330, 307 - len(digits))
    return f"{generator.choice(('', '-'))}{digits}.{fraction}e{exponent}"


def _bits(values: Any) -> list[int]:
    bits: list[int] = np.asarray(values, dtype=np.float64).view(np.uint64).tolist()
    return bits


def test_parse_numbers_reads_every_number_as_orjson_does_bit_for_bit() -> None:
    generator = random.Random(11)
    numbers = SPELLINGS + [_random_number(generator) for _ in range(20_000)]
    text = ("[" + ",".join(numbers) + "]").encode()
    expected = [float(value) for value in orjson.loads(text)]
    parsed = parse_numbers(text)
    assert parsed is not None
    assert _bits(parsed) == _bits(expected)
    nested = ("[[" + "],[".join(",".join(numbers[i : i + 4]) for i in range(0, 400, 4)) + "]]").encode()
    parsed = parse_numbers(nested)
    assert parsed is not None
    assert _bits(parsed) == _bits(expected[:400])


@pytest.mark.parametrize("number", REFUSED)
def test_parse_numbers_refuses_what_orjson_refuses_and_anything_but_numbers(number: str) -> None:
    text = f"[1.5, {number}, 2]".encode()
    refused_by_orjson = number in ("", "1,")  # orjson takes neither a missing value nor a trailing comma either
    try:
        parsed_by_orjson = orjson.loads(text)
    except orjson.JSONDecodeError:
        refused_by_orjson = True
    assert refused_by_orjson or not all(type(value) in (int, float) for value in parsed_by_orjson)
    assert parse_numbers(text) is None


@pytest.mark.parametrize(
    "text",
    [
        b"\xef\xbb\xbf[1, 2]",  # a byte order mark: simdjson would skip it, orjson refuses it
        b"[1, 2] 3",
        b"[1, 2]]",
        b"[1, 2",
        b"[1, 2]\x00",
        b"[1, \xff2]",
        b"{}",
        b"1.5",
        b"[1, 100000000000000000000]",  # beyond 64 bits: orjson reads it as a float, the callers fall back to it
    ],
)
def test_parse_numbers_refuses_anything_but_one_array_of_numbers(text: bytes) -> None:
    assert parse_numbers(text) is None


# Records keyed by name, all in one order -------------------------------------------------------------------


@pytest.fixture(scope="module")
def decoder(manifest: Manifest) -> RequestDecoder:
    return RequestDecoder(manifest, build_request_schemas(manifest, 50), 50)


@pytest.fixture(scope="module")
def named_batch(manifest: Manifest) -> NamedBatch:
    names = (frozenset(feature.api_name for feature in manifest.features), frozenset(f.name for f in manifest.features))
    return NamedBatch(names, 50)


@pytest.fixture(scope="module")
def conventions(manifest: Manifest) -> dict[str, list[str]]:
    return {
        "snake_case": [feature.api_name for feature in manifest.features],
        "data set": [feature.name for feature in manifest.features],
    }


DUMPS: dict[str, Callable[[Any], bytes]] = {
    "compact": orjson.dumps,
    "json.dumps": lambda value: json.dumps(value).encode(),
}


def _records(rows: NDArray[np.float64], names: list[str]) -> list[dict[str, float]]:
    return [dict(zip(names, row, strict=True)) for row in rows.tolist()]


@pytest.mark.parametrize("layout", DUMPS)
@pytest.mark.parametrize("convention", ["snake_case", "data set"])
def test_records_in_one_key_order_are_read_from_the_raw_bytes(
    decoder: RequestDecoder,
    named_batch: NamedBatch,
    conventions: dict[str, list[str]],
    data_rows: NDArray[np.float64],
    layout: str,
    convention: str,
) -> None:
    names = conventions[convention]
    shuffled = random.Random(3).sample(names, len(names))
    for order in (names, shuffled):
        rows = data_rows[:40]
        body = DUMPS[layout](
            {"instances": [{name: record[name] for name in order} for record in _records(rows, names)]}
        )
        read = named_batch.values(body)
        assert read is not None
        n_rows, keys, values = read
        assert (n_rows, keys) == (40, tuple(order))
        assert _bits(values) == _bits(rows[:, [names.index(name) for name in order]].ravel())
        decoded = decoder.decode_fast(body)
        assert decoded is not None
        np.testing.assert_array_equal(decoded.matrix, rows)
        np.testing.assert_array_equal(decoder.decode_strict(body).matrix, rows)


DAMAGED_ROW = 2
"""The damage goes to this record and after it: the first record is parsed alone, so damage there is plain."""


def _damaged(names: list[str], rows: NDArray[np.float64], damage: Callable[[bytes], bytes]) -> bytes:
    body = orjson.dumps({"instances": _records(rows, names)})
    start = len(orjson.dumps({"instances": _records(rows[:DAMAGED_ROW], names)})) - 2
    damaged = body[:start] + damage(body[start:])
    assert damaged != body
    return damaged


def _first_value(names: list[str], rows: NDArray[np.float64], index: int = 0) -> bytes:
    """The key and value of a feature in the first damaged record."""
    return b'"%s":%s' % (names[index].encode(), orjson.dumps(float(rows[DAMAGED_ROW, index])))


DAMAGES: dict[str, Callable[[list[str], NDArray[np.float64]], Callable[[bytes], bytes]]] = {
    # a key that holds a number byte in place of its empty value: "mean_radius7":, (invalid JSON)
    "number moved into its key": lambda names, rows: (
        lambda body: body.replace(_first_value(names, rows, 1), b'"%s7":' % names[1].encode(), 1)
    ),
    "number byte in a key": lambda names, rows: (
        lambda body: body.replace(b'"%s":' % names[1].encode(), b'"%s7":' % names[1].encode(), 1)
    ),
    "letter e missing from a key": lambda names, rows: (
        lambda body: body.replace(b'"mean_texture":', b'"man_texture":', 1)
    ),
    "letter e added to a key": lambda names, rows: (
        lambda body: body.replace(b'"mean_texture":', b'"meane_texture":', 2)
    ),
    "empty value": lambda names, rows: (
        lambda body: body.replace(_first_value(names, rows, 1), b'"%s":' % names[1].encode())
    ),
    "two numbers": lambda names, rows: (
        lambda body: body.replace(_first_value(names, rows), _first_value(names, rows) + b" 1")
    ),
    "a key twice": lambda names, rows: lambda body: body.replace(b"},{", b',"%s":1.0},{' % names[0].encode(), 1),
    "a key missing": lambda names, rows: lambda body: body.replace(b',"%s":' % names[5].encode(), b',"x":', 1),
    "a record with a key more": lambda names, rows: lambda body: body.replace(b"},{", b',"x":1},{', 1),
    "a second instances key": lambda names, rows: lambda body: body[:-1] + b',"instances":[]}',
    "a string": lambda names, rows: (
        lambda body: body.replace(_first_value(names, rows), b'"%s":"17.99"' % names[0].encode())
    ),
    "null": lambda names, rows: (
        lambda body: body.replace(_first_value(names, rows, 2), b'"%s":null' % names[2].encode())
    ),
    "an array": lambda names, rows: lambda body: body.replace(b"},{", b"},[1],{", 1),
    "NaN": lambda names, rows: lambda body: body.replace(_first_value(names, rows), b'"%s":NaN' % names[0].encode()),
    "1e400": lambda names, rows: (
        lambda body: body.replace(_first_value(names, rows), b'"%s":1e400' % names[0].encode())
    ),
    "leading zero": lambda names, rows: (
        lambda body: body.replace(_first_value(names, rows), b'"%s":017' % names[0].encode())
    ),
    "plus sign": lambda names, rows: (
        lambda body: body.replace(_first_value(names, rows), b'"%s":+17' % names[0].encode())
    ),
    "trailing dot": lambda names, rows: (
        lambda body: body.replace(_first_value(names, rows), b'"%s":17.' % names[0].encode())
    ),
    "lone minus": lambda names, rows: (
        lambda body: body.replace(_first_value(names, rows), b'"%s":-' % names[0].encode())
    ),
    "a number after a record": lambda names, rows: lambda body: body.replace(b"},{", b"}7,{", 1),
    "a number before a key": lambda names, rows: lambda body: body.replace(b',"mean_texture"', b',7"mean_texture"', 1),
    "a number after a key": lambda names, rows: lambda body: body.replace(b'"mean_texture":', b'"mean_texture"7:', 1),
    "a negative value": lambda names, rows: (
        lambda body: body.replace(_first_value(names, rows), b'"%s":-1' % names[0].encode())
    ),
    "trailing garbage": lambda names, rows: lambda body: body + b"x",
    "invalid UTF-8": lambda names, rows: lambda body: body.replace(b'"mean_texture"', b'"mean_text\xffure"', 1),
    "out of range": lambda names, rows: (
        lambda body: body.replace(_first_value(names, rows), b'"%s":1700' % names[0].encode())
    ),
}


@pytest.mark.parametrize("damage", DAMAGES)
def test_damaged_records_are_never_read_from_the_raw_bytes(
    decoder: RequestDecoder, named_batch: NamedBatch, names: list[str], data_rows: NDArray[np.float64], damage: str
) -> None:
    body = _damaged(names, data_rows[:40], DAMAGES[damage](names, data_rows[:40]))
    assert named_batch.values(body) is None or damage == "out of range"  # the range is the decoder's check
    with pytest.raises(ServiceError) as fast:
        decoder.decode(body)
    with pytest.raises(ServiceError) as strict:
        decoder.decode_strict(body)
    assert str(fast.value) == str(strict.value)


@pytest.mark.parametrize(
    "change",
    [
        lambda body: body.replace(b":19.69,", b":1.969e1,"),  # an exponent: valid, left to the general decoding
        lambda body: body.replace(b"},{", b"}, {"),  # a layout of its own
        lambda body: body.replace(
            b'"mean_radius":19.69,"mean_texture":21.25', b'"mean_texture":21.25,"mean_radius":19.69'
        ),
        lambda body: body.replace(b":19.69,", b":196900000000000000000000e-22,"),
        lambda body: body.replace(b'"mean_texture"', b'"mean_t\\u0065xture"', 3),  # an escape in a key
        lambda body: body.replace(b":19.69,", b":-0.0,"),  # a negative zero
    ],
)
def test_valid_records_the_raw_bytes_cannot_prove_are_still_accepted(
    decoder: RequestDecoder, named_batch: NamedBatch, names: list[str], data_rows: NDArray[np.float64], change: Any
) -> None:
    body = _damaged(names, data_rows[:40], change)
    assert named_batch.values(body) is None
    decoded = decoder.decode(body).matrix
    assert _bits(decoded) == _bits(decoder.decode_strict(body).matrix)
    np.testing.assert_array_equal(np.delete(decoded, 2, axis=0), np.delete(data_rows[:40], 2, axis=0))


def _reference_values(body: bytes, keys: tuple[str, ...] | None) -> list[float]:
    """The values of a batch as Python's own json module reads it, refusing what strict validation refuses but the
    ranges: NaN and Infinity, a key twice, a record with other keys (or in another order), anything but numbers."""

    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        assert len({key for key, _ in pairs}) == len(pairs), pairs
        return dict(pairs)

    def refuse(constant: str) -> None:
        raise AssertionError(constant)

    document = json.loads(body, object_pairs_hook=no_duplicates, parse_constant=refuse)
    assert list(document) == ["instances"]
    values: list[float] = []
    for record in document["instances"]:
        if keys is None:
            assert type(record) is list
            row = record
        else:
            assert type(record) is dict
            assert tuple(record) == keys
            row = list(record.values())
        assert len(row) == 30
        assert all(type(value) in (int, float) for value in row)
        values += map(float, row)
    assert all(np.isfinite(values))
    return values


def test_zeros_are_read_with_the_sign_orjson_gives_them(named_batch: NamedBatch, names: list[str]) -> None:
    """Values are read negated and negated back: "0" must come back as 0.0, not -0.0."""
    for zero in (b"0", b"0.0", b"0.000"):
        record = b"{" + b",".join(b'"%s":%s' % (name.encode(), zero) for name in names) + b"}"
        read = named_batch.values(b'{"instances":[' + b",".join([record] * 40) + b"]}")
        assert read is not None
        assert not np.signbit(read[2]).any()
        assert not read[2].any()


def test_random_damage_to_batches_is_never_accepted_when_strict_validation_refuses(
    names: list[str], data_rows: NDArray[np.float64]
) -> None:
    """Byte-level damage aimed at the proofs (digits, colons, commas, quotes, letters of keys): whatever the raw-byte
    readers accept is valid JSON of the form they read, with the same values."""
    rows = data_rows[:12]
    bodies = [
        orjson.dumps({"instances": _records(rows, names)}),
        json.dumps({"instances": _records(rows, names)}).encode(),
        orjson.dumps({"instances": rows.tolist()}),
        json.dumps({"instances": rows.tolist()}).encode(),
    ]
    accepted = 0
    arrays, named = ArrayBatch(30, 50), NamedBatch([frozenset(names)], 50)
    for damaged in random_damage(bodies, 3000, seed=5):
        read_arrays, read_named = arrays.values(damaged), named.values(damaged)
        if read_arrays is not None:
            assert _bits(read_arrays[1]) == _bits(_reference_values(damaged, None)), damaged
        elif read_named is not None:
            assert _bits(read_named[2]) == _bits(_reference_values(damaged, read_named[1])), damaged
        else:
            continue
        accepted += 1
    assert accepted > 0  # damage inside the digits of a value keeps a body valid
