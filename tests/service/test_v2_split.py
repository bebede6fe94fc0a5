"""V2 JSON data parsed apart from the rest of the request: the same rows, and the same errors, as parsing it whole."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from numpy.typing import NDArray

from service.dataplane import Limits, ServedModel
from service.errors import ServiceError
from service.model import ModelRuntime
from service.protocols.v2 import V2Codec
from tests.service.damage import TOKENS
from tests.service.damage import damaged as random_damage

N_FEATURES = 30


@pytest.fixture(scope="module")
def codec(model_dir: Path) -> V2Codec:
    return V2Codec(
        ServedModel("wdbc", ModelRuntime.load(model_dir), Limits(max_batch_rows=100, max_body_bytes=1 << 24))
    )


class WholeParse(V2Codec):
    """The codec without the split: every request parsed whole, as the reference."""

    def split(self, json_part: bytes) -> None:
        return None


@pytest.fixture(scope="module")
def whole(model_dir: Path) -> V2Codec:
    runtime = ModelRuntime.load(model_dir)
    return WholeParse(ServedModel("wdbc", runtime, Limits(max_batch_rows=100, max_body_bytes=1 << 24)))


def _request(
    rows: NDArray[np.float64], datatype: str = "FP64", *, nested: bool = False, **fields: Any
) -> dict[str, Any]:
    data = rows.tolist() if nested else rows.ravel().tolist()
    spec = {"name": "features", "shape": list(rows.shape), "datatype": datatype, "data": data}
    return {"inputs": [spec]} | fields


DUMPS: dict[str, Callable[[Any], bytes]] = {
    "compact": orjson.dumps,
    "json.dumps": lambda value: json.dumps(value).encode(),
}


def _outcome(codec: V2Codec, body: bytes) -> NDArray[np.float64] | str:
    try:
        return codec.decode(body, None).rows
    except ServiceError as error:
        return f"{type(error).__name__}: {error}"


@pytest.mark.parametrize("layout", ["compact", "json.dumps"])
@pytest.mark.parametrize("nested", [False, True])
@pytest.mark.parametrize("datatype", ["FP64", "FP32", "FP16"])
def test_float_data_is_parsed_apart_to_the_rows_of_the_whole_parse(
    codec: V2Codec, whole: V2Codec, data_rows: NDArray[np.float64], layout: str, nested: bool, datatype: str
) -> None:
    fields = {"id": "a-1", "parameters": {"binary_data_output": False}, "outputs": [{"name": "label"}]}
    body = DUMPS[layout](_request(data_rows[:40], datatype, nested=nested, **fields))
    assert codec.split(body) is not None
    request = codec.decode(body, None)
    reference = whole.decode(body, None)
    np.testing.assert_array_equal(request.rows, reference.rows)
    np.testing.assert_array_equal(request.rows, data_rows[:40].astype(datatype.replace("FP", "float")))
    assert (request.id, request.outputs, request.binary_output) == (reference.id, reference.outputs, False)


def test_the_data_may_come_anywhere_in_its_input(codec: V2Codec, data_rows: NDArray[np.float64]) -> None:
    values = ",".join(map(repr, data_rows[:40].ravel().tolist()))
    body = ('{"inputs":[{"data":[' + values + '],"name":"features","datatype":"FP64","shape":[40,30]}]}').encode()
    assert codec.split(body) is not None
    np.testing.assert_array_equal(codec.decode(body, None).rows, data_rows[:40])


def _body(rows: NDArray[np.float64], change: Callable[[bytes], bytes], **request: Any) -> bytes:
    body = orjson.dumps(_request(rows, **request))
    changed = change(body)
    assert changed != body
    return changed


def _value(rows: NDArray[np.float64], index: int) -> bytes:
    return orjson.dumps(float(rows.ravel()[index]))


def _replace_value(index: int, text: bytes) -> Callable[[NDArray[np.float64]], Callable[[bytes], bytes]]:
    return lambda rows: lambda body: body.replace(b"," + _value(rows, index) + b",", b"," + text + b",", 1)


def _move_row_end(body: bytes) -> bytes:
    """The first row's end moved one value later: 31 values, then 29 (nested data only)."""
    end = body.index(b"],[")
    after = body.index(b",", end + 3)
    return body[:end] + b"," + body[end + 3 : after] + b"],[" + body[after + 1 :]


REFUSED: dict[str, Callable[[NDArray[np.float64]], Callable[[bytes], bytes]]] = {
    "a string": _replace_value(45, b'"1.5"'),
    "null": _replace_value(45, b"null"),
    "true": _replace_value(45, b"true"),
    "an object": _replace_value(45, b'{"x":1}'),
    "an array": _replace_value(45, b"[1.5]"),
    "NaN": _replace_value(45, b"NaN"),
    "Infinity": _replace_value(45, b"-Infinity"),
    "1e400": _replace_value(45, b"1e400"),
    "leading zero": _replace_value(45, b"012"),
    "plus sign": _replace_value(45, b"+12"),
    "trailing dot": _replace_value(45, b"12."),
    "lone minus": _replace_value(45, b"-"),
    "two numbers": _replace_value(45, b"1 2"),
    "a value missing": _replace_value(45, b""),
    "a value more": _replace_value(45, b"1,2"),
    "a row longer, the next shorter": lambda rows: _move_row_end,
    "out of range": _replace_value(45, b"1e300"),
    "shape and data disagree": lambda rows: lambda body: body.replace(b"[40,30]", b"[39,30]"),
    "a second data key": lambda rows: lambda body: body.replace(b'"name"', b'"data":[],"name"', 1),
    "a second shape key": lambda rows: lambda body: body.replace(b'"name"', b'"shape":[1,30],"name"', 1),
    "the real data empty, numbers under parameters": lambda rows: (
        lambda body: (
            b'{"parameters":{"data":'
            + body[body.index(b'"data":') + 7 : -3]
            + b'},"inputs":[{"name":"features","shape":[40,30],"datatype":"FP64","data":[]}]}'
        )
    ),
    "a byte order mark": lambda rows: lambda body: b"\xef\xbb\xbf" + body,
    "trailing garbage": lambda rows: lambda body: body + b"x",
    "invalid UTF-8 in the name": lambda rows: lambda body: body.replace(b'"features"', b'"feat\xffures"'),
    "binary_data_size too": lambda rows: (
        lambda body: body.replace(b'"name"', b'"parameters":{"binary_data_size":9600},"name"', 1)
    ),
    "floats for an integer datatype": lambda rows: lambda body: body.replace(b'"FP64"', b'"INT32"'),
    "an id that is not a string": lambda rows: lambda body: body.replace(b'{"inputs"', b'{"id":5,"inputs"', 1),
    "an unclosed data array": lambda rows: lambda body: body.replace(b"]}]}", b"}]}"),
}


@pytest.mark.parametrize(
    ("case", "nested"),
    [
        (case, nested)
        for case in REFUSED
        for nested in (False, True)
        if nested or case != "a row longer, the next shorter"
    ],
)
def test_requests_the_split_cannot_prove_get_the_errors_of_the_whole_parse(
    codec: V2Codec, whole: V2Codec, data_rows: NDArray[np.float64], case: str, nested: bool
) -> None:
    rows = data_rows[:40]
    body = _body(rows, REFUSED[case](rows), nested=nested)
    outcome = _outcome(codec, body)
    assert isinstance(outcome, str), case  # every one of them is refused
    assert outcome == _outcome(whole, body)
    if case not in ("out of range", "binary_data_size too", "an id that is not a string"):
        assert codec.split(body) is None  # (those three are refused after the split, by the checks of every request)


def test_valid_requests_the_split_cannot_prove_are_parsed_whole(
    codec: V2Codec, whole: V2Codec, data_rows: NDArray[np.float64]
) -> None:
    rows = data_rows[:40]
    nested = orjson.dumps(_request(rows, nested=True))
    bodies = [
        nested.replace(b'"data"', b'"d\\u0061ta"'),  # an escaped key
        nested.replace(b'"data":[[', b'"data":[ ['),  # a layout of its own
        nested.replace(b'{"inputs"', b'{"parameters":{"data":[1]},"inputs"'),  # "data" twice, one a parameter
        orjson.dumps(_request(np.round(rows).astype(np.int64), "INT64")),  # integers: JSON integers only
    ]
    for body in bodies:
        assert codec.split(body) is None
        outcome = _outcome(codec, body)
        assert not isinstance(outcome, str), outcome
        np.testing.assert_array_equal(outcome, _outcome(whole, body))


def test_random_damage_is_never_accepted_by_the_split_when_the_whole_parse_refuses(
    codec: V2Codec, whole: V2Codec, data_rows: NDArray[np.float64]
) -> None:
    rows = data_rows[:12]
    bodies = [
        orjson.dumps(_request(rows, id="x")),
        json.dumps(_request(rows, nested=True)).encode(),
        orjson.dumps(_request(rows, "FP32", nested=True, outputs=[{"name": "label"}])),
    ]
    split = 0
    for damaged in random_damage(bodies, 3000, seed=7, tokens=[*TOKENS, b'"data":']):
        if codec.split(damaged) is None:
            continue
        split += 1
        outcome, reference = _outcome(codec, damaged), _outcome(whole, damaged)
        if isinstance(reference, str):
            assert outcome == reference, damaged
        else:
            assert not isinstance(outcome, str), damaged
            np.testing.assert_array_equal(outcome, reference)
    assert split > 0
