"""Every class of bad /predict request: a 4xx with the one error shape, naming the offending field.

Each case builds its raw body from a valid record, so the feature names come from the manifest here too.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from numpy.typing import NDArray

RAW = "__raw__"
Builder = Callable[[dict[str, Any], list[float]], bytes]


def raw(document: Any, *tokens: str) -> bytes:
    """JSON of ``document`` with each ``RAW`` placeholder replaced, in order, by a literal token (e.g. NaN)."""
    text = json.dumps(document)
    for token in tokens:
        text = text.replace(json.dumps(RAW), token, 1)
    return text.encode()


def with_value(record: dict[str, Any], key: str, value: Any) -> dict[str, Any]:
    return record | {key: value}


def without(record: dict[str, Any], key: str) -> dict[str, Any]:
    return {name: value for name, value in record.items() if name != key}


def renamed(record: dict[str, Any], old: str, new: str) -> dict[str, Any]:
    return {new if name == old else name: value for name, value in record.items()}


def at(values: list[float], position: int, value: Any) -> list[Any]:
    return [value if index == position else item for index, item in enumerate(values)]


def duplicate_first_key(record: dict[str, Any], value: float) -> bytes:
    """A named record whose first key appears twice (json.dumps cannot write that)."""
    text = json.dumps(record)
    first = next(iter(record))
    return text.replace("{", "{" + json.dumps(first) + ": " + repr(value) + ", ", 1).encode()


@dataclass(frozen=True)
class Case:
    id: str
    build: Builder
    status: int
    code: str
    loc: tuple[str | int, ...] | None = None
    """A detail must have exactly this location (None: no detail expected to be checked)."""
    msg: str = ""
    """Substring of that detail's message (or of the top-level message when ``loc`` is None)."""
    headers: dict[str, str] = field(default_factory=dict)


CASES = [
    # Non-finite numbers: literals JSON does not have, and a number too large for a double.
    Case(
        "nan-literal",
        lambda n, a: raw(with_value(n, "mean_radius", RAW), "NaN"),
        422,
        "invalid_input",
        ("mean_radius",),
        "finite",
    ),
    Case(
        "infinity-literal",
        lambda n, a: raw(with_value(n, "mean_texture", RAW), "Infinity"),
        422,
        "invalid_input",
        ("mean_texture",),
        "finite",
    ),
    Case(
        "minus-infinity-literal",
        lambda n, a: raw(with_value(n, "worst_area", RAW), "-Infinity"),
        422,
        "invalid_input",
        ("worst_area",),
        "finite",
    ),
    Case(
        "1e309",
        lambda n, a: raw(with_value(n, "mean_area", RAW), "1e309"),
        422,
        "invalid_input",
        ("mean_area",),
        "finite",
    ),
    Case("nan-in-array", lambda n, a: raw(at(a, 3, RAW), "NaN"), 422, "invalid_input", (3,), "mean_area"),
    Case(
        "nan-in-named-batch",
        lambda n, a: raw({"instances": [n, n, with_value(n, "mean_area", RAW)]}, "NaN"),
        422,
        "invalid_input",
        ("instances", 2, "mean_area"),
        "finite",
    ),
    Case(
        "1e309-in-array-batch",
        lambda n, a: raw({"instances": [a, at(a, 0, RAW)]}, "1e309"),
        422,
        "invalid_input",
        ("instances", 1, 0),
        "finite",
    ),
    Case(
        "big-integer",
        lambda n, a: raw(with_value(n, "mean_area", RAW), "1" + "0" * 400),
        422,
        "invalid_input",
        ("mean_area",),
        "",
    ),
    # The same checks on batches large enough for the vectorised checks (more than 8 rows).
    Case(
        "nan-in-row-9-of-12",
        lambda n, a: raw({"instances": [a] * 9 + [at(a, 4, RAW)] + [a] * 2}, "NaN"),
        422,
        "invalid_input",
        ("instances", 9, 4),
        "finite",
    ),
    Case(
        "boolean-in-row-10-of-12",
        lambda n, a: json.dumps({"instances": [n] * 10 + [with_value(n, "mean_area", True)] + [n]}).encode(),
        422,
        "invalid_input",
        ("instances", 10, "mean_area"),
        "not a boolean",
    ),
    Case(
        "duplicate-in-row-11-of-12",
        lambda n, a: (
            b'{"instances": [' + b", ".join([json.dumps(n).encode()] * 11 + [duplicate_first_key(n, 3.0)]) + b"]}"
        ),
        422,
        "invalid_input",
        ("instances", 11, "mean_radius"),
        "duplicate",
    ),
    Case(
        "out-of-range-in-row-9-of-12",
        lambda n, a: json.dumps({"instances": [a] * 9 + [at(a, 2, 1e7)] + [a] * 2}).encode(),
        422,
        "invalid_input",
        ("instances", 9, 2),
        "valid range",
    ),
    Case(
        "ragged-row-9-of-12",
        lambda n, a: json.dumps({"instances": [a] * 9 + [a[:-1]] + [a] * 2}).encode(),
        422,
        "invalid_input",
        ("instances", 9),
        "got 29",
    ),
    # Values that are not JSON numbers.
    Case(
        "number-in-string",
        lambda n, a: json.dumps(with_value(n, "mean_radius", "12.5")).encode(),
        422,
        "invalid_input",
        ("mean_radius",),
        "not a string",
    ),
    Case(
        "nan-in-string",
        lambda n, a: json.dumps(with_value(n, "mean_radius", "NaN")).encode(),
        422,
        "invalid_input",
        ("mean_radius",),
        "not a string",
    ),
    Case(
        "boolean",
        lambda n, a: json.dumps(with_value(n, "mean_radius", True)).encode(),
        422,
        "invalid_input",
        ("mean_radius",),
        "not a boolean",
    ),
    Case(
        "null",
        lambda n, a: json.dumps(with_value(n, "mean_radius", None)).encode(),
        422,
        "invalid_input",
        ("mean_radius",),
        "not null",
    ),
    Case(
        "array-value",
        lambda n, a: json.dumps(with_value(n, "mean_radius", [1.0])).encode(),
        422,
        "invalid_input",
        ("mean_radius",),
        "not an array",
    ),
    Case(
        "object-value",
        lambda n, a: json.dumps(with_value(n, "mean_radius", {})).encode(),
        422,
        "invalid_input",
        ("mean_radius",),
        "not an object",
    ),
    Case(
        "string-in-array", lambda n, a: json.dumps(at(a, 5, "0.1")).encode(), 422, "invalid_input", (5,), "not a string"
    ),
    Case(
        "boolean-in-array-batch",
        lambda n, a: json.dumps({"instances": [a, at(a, 29, False)]}).encode(),
        422,
        "invalid_input",
        ("instances", 1, 29),
        "not a boolean",
    ),
    Case("null-in-array", lambda n, a: json.dumps(at(a, 0, None)).encode(), 422, "invalid_input", (0,), "not null"),
    # Missing fields.
    Case(
        "missing-field",
        lambda n, a: json.dumps(without(n, "mean_radius")).encode(),
        422,
        "invalid_input",
        ("mean_radius",),
        "missing",
    ),
    Case(
        "missing-in-batch-row",
        lambda n, a: json.dumps({"instances": [n, without(n, "worst_area")]}).encode(),
        422,
        "invalid_input",
        ("instances", 1, "worst_area"),
        "missing",
    ),
    Case("empty-object", lambda n, a: b"{}", 422, "invalid_input", ("worst_fractal_dimension",), "missing"),
    # Unknown, misspelled and case-variant fields, with a hint.
    Case(
        "misspelled",
        lambda n, a: json.dumps(renamed(n, "mean_radius", "mean_raduis")).encode(),
        422,
        "invalid_input",
        ("mean_raduis",),
        "did you mean 'mean_radius'",
    ),
    Case(
        "case-variant",
        lambda n, a: json.dumps(renamed(n, "mean_radius", "Mean_Radius")).encode(),
        422,
        "invalid_input",
        ("Mean_Radius",),
        "did you mean 'mean_radius'",
    ),
    Case(
        "dataset-name",
        lambda n, a: json.dumps(renamed(n, "worst_concave_points", "worst concave points")).encode(),
        422,
        "invalid_input",
        ("worst concave points",),
        "did you mean 'worst_concave_points'",
    ),
    Case(
        "unknown-extra",
        lambda n, a: json.dumps(n | {"patient_age": 40}).encode(),
        422,
        "invalid_input",
        ("patient_age",),
        "unknown field",
    ),
    Case(
        "unknown-in-batch-row",
        lambda n, a: json.dumps({"instances": [n, renamed(n, "mean_area", "mean_aera")]}).encode(),
        422,
        "invalid_input",
        ("instances", 1, "mean_aera"),
        "did you mean 'mean_area'",
    ),
    Case(
        "batch-key-typo",
        lambda n, a: json.dumps({"instance": [a]}).encode(),
        422,
        "invalid_input",
        ("instance",),
        "did you mean 'instances'",
    ),
    Case(
        "batch-extra-key",
        lambda n, a: json.dumps({"instances": [a], "parameters": {}}).encode(),
        422,
        "invalid_input",
        ("parameters",),
        "unknown field",
    ),
    Case(
        "long-unknown-key",
        lambda n, a: json.dumps(n | {"x" * 5000: 1}).encode(),
        422,
        "invalid_input",
        None,
        "invalid input: unknown field 'xxxxx",
    ),
    Case("surrogate-key", lambda n, a: json.dumps(n | {"\ud800": 1}).encode(), 400, "malformed_json", None, "JSON"),
    # Duplicate keys, which JSON parsers otherwise resolve silently.
    Case(
        "duplicate-key", lambda n, a: duplicate_first_key(n, 1.0), 422, "invalid_input", ("mean_radius",), "duplicate"
    ),
    Case(
        "duplicate-in-batch-row",
        lambda n, a: b'{"instances": [' + json.dumps(n).encode() + b", " + duplicate_first_key(n, 2.0) + b"]}",
        422,
        "invalid_input",
        ("instances", 1, "mean_radius"),
        "duplicate",
    ),
    Case(
        "duplicate-instances",
        lambda n, a: f'{{"instances": [{json.dumps(a)}], "instances": [{json.dumps(a)}]}}'.encode(),
        422,
        "invalid_input",
        ("instances",),
        "duplicate",
    ),
    # Wrong lengths and batch shapes.
    Case("29-values", lambda n, a: json.dumps(a[:29]).encode(), 422, "invalid_input", (), "expected 30 values, got 29"),
    Case(
        "31-values", lambda n, a: json.dumps([*a, 1.0]).encode(), 422, "invalid_input", (), "expected 30 values, got 31"
    ),
    Case("empty-array", lambda n, a: b"[]", 422, "invalid_input", (), "got 0"),
    Case(
        "ragged-batch",
        lambda n, a: json.dumps({"instances": [a, a[:29]]}).encode(),
        422,
        "invalid_input",
        ("instances", 1),
        "got 29",
    ),
    Case(
        "long-row-in-batch",
        lambda n, a: json.dumps({"instances": [a, [*a, 1.0]]}).encode(),
        422,
        "invalid_input",
        ("instances", 1),
        "got 31",
    ),
    Case("empty-batch", lambda n, a: b'{"instances": []}', 422, "invalid_input", ("instances",), "empty"),
    Case(
        "mixed-batch",
        lambda n, a: json.dumps({"instances": [n, a]}).encode(),
        422,
        "invalid_input",
        ("instances", 1),
        "like the batch's first record",
    ),
    Case(
        "instances-not-a-list",
        lambda n, a: json.dumps({"instances": n}).encode(),
        422,
        "invalid_input",
        ("instances",),
        "array of records",
    ),
    Case("nested-arrays", lambda n, a: json.dumps([[a]]).encode(), 422, "invalid_input", (), "one level too deep"),
    Case(
        "over-row-cap",
        lambda n, a: json.dumps({"instances": [a] * 1001}).encode(),
        422,
        "too_many_rows",
        ("instances",),
        "1000",
    ),
    # Values outside the manifest's valid range.
    Case(
        "negative",
        lambda n, a: json.dumps(with_value(n, "mean_radius", -1.0)).encode(),
        422,
        "invalid_input",
        ("mean_radius",),
        "between 0 and ",
    ),
    Case(
        "above-valid-max",
        lambda n, a: json.dumps(with_value(n, "mean_radius", 1e6)).encode(),
        422,
        "invalid_input",
        ("mean_radius",),
        "valid range",
    ),
    Case(
        "negative-in-array-batch",
        lambda n, a: json.dumps({"instances": [a, at(a, 7, -0.5)]}).encode(),
        422,
        "invalid_input",
        ("instances", 1, 7),
        "mean_concave_points",
    ),
    # Bodies that are not JSON, not UTF-8, not the right media type or encoding.
    Case("not-json", lambda n, a: b"mean_radius=12", 400, "malformed_json", None, "not valid JSON"),
    Case("truncated-json", lambda n, a: json.dumps(n).encode()[:-10], 400, "malformed_json", None, "not valid JSON"),
    Case(
        "trailing-garbage", lambda n, a: json.dumps(a).encode() + b" ]", 400, "malformed_json", None, "not valid JSON"
    ),
    Case("empty-body", lambda n, a: b"", 400, "malformed_json", None, "not valid JSON"),
    Case("deeply-nested", lambda n, a: b"[" * 100_000 + b"]" * 100_000, 400, "malformed_json", None, "not valid JSON"),
    Case("json-number", lambda n, a: b"42", 422, "invalid_input", (), "got a number"),
    Case("json-string", lambda n, a: b'"hello"', 422, "invalid_input", (), "got a string"),
    Case("json-null", lambda n, a: b"null", 422, "invalid_input", (), "got null"),
    Case(
        "not-utf8",
        lambda n, a: json.dumps(renamed(n, "mean_radius", "m\u00e9an_radius"), ensure_ascii=False).encode("latin-1"),
        400,
        "invalid_encoding",
        None,
        "UTF-8",
    ),
    Case(
        "text-plain",
        lambda n, a: json.dumps(n).encode(),
        415,
        "unsupported_media_type",
        None,
        "application/json",
        {"content-type": "text/plain"},
    ),
    Case(
        "form-encoded",
        lambda n, a: b"mean_radius=1",
        415,
        "unsupported_media_type",
        None,
        "JSON",
        {"content-type": "application/x-www-form-urlencoded"},
    ),
    Case(
        "latin-1-charset",
        lambda n, a: json.dumps(n).encode(),
        415,
        "unsupported_media_type",
        None,
        "UTF-8",
        {"content-type": "application/json; charset=latin-1"},
    ),
    Case(
        "gzip-encoding",
        lambda n, a: json.dumps(n).encode(),
        415,
        "unsupported_media_type",
        None,
        "compressed",
        {"content-type": "application/json", "content-encoding": "gzip"},
    ),
    Case(
        "over-byte-limit",
        lambda n, a: json.dumps({"instances": [a] * 6000}).encode(),
        413,
        "payload_too_large",
        None,
        "1048576 bytes",
    ),
]


@pytest.fixture(scope="module")
def valid(
    data_rows: NDArray[np.float64], as_named: Callable[[Any], dict[str, Any]]
) -> tuple[dict[str, Any], list[float]]:
    return as_named(data_rows[0]), data_rows[0].tolist()


def _no_constants(token: str) -> Any:
    raise AssertionError(f"non-finite number {token} in a response")


def strict_json(text: str) -> Any:
    """Parse a response, failing on NaN or Infinity (which are not JSON)."""
    return json.loads(text, parse_constant=_no_constants)


def assert_error_shape(body: Any) -> dict[str, Any]:
    assert set(body) == {"error"}
    error: dict[str, Any] = body["error"]
    assert set(error) == {"code", "message", "details"}
    assert isinstance(error["message"], str)
    assert error["message"]
    for detail in error["details"]:
        assert set(detail) == {"loc", "msg", "type"}
        assert all(isinstance(part, str | int) for part in detail["loc"])
    return error


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_request_gets_a_4xx_naming_the_problem(
    client: TestClient, valid: tuple[dict[str, Any], list[float]], case: Case
) -> None:
    headers = {"content-type": "application/json"} | case.headers
    response = client.post("/predict", content=case.build(*valid), headers=headers)
    assert response.status_code == case.status, response.text
    assert response.headers["content-type"] == "application/json"
    assert "x-request-id" in response.headers
    error = assert_error_shape(strict_json(response.text))
    assert error["code"] == case.code
    if case.loc is None:
        assert case.msg in error["message"]
        return
    matching = [detail for detail in error["details"] if tuple(detail["loc"]) == case.loc]
    assert matching, f"no detail at {case.loc}: {error['details']}"
    assert any(case.msg in detail["msg"] for detail in matching), matching


def test_the_details_name_every_problem_at_once(client: TestClient, valid: tuple[dict[str, Any], list[float]]) -> None:
    record = without(renamed(valid[0], "mean_area", "mean_aera"), "worst_area") | {"mean_radius": "1"}
    error = client.post("/predict", json=record).json()["error"]
    locations = {tuple(detail["loc"]) for detail in error["details"]}
    assert locations == {("mean_area",), ("mean_aera",), ("worst_area",), ("mean_radius",)}
    assert error["message"] == "invalid input: unknown field 'mean_aera'; did you mean 'mean_area'? (4 problems)"
    assert [detail["type"] for detail in error["details"]] == ["unknown_field", "not_a_number", "missing", "missing"]


def test_a_problem_repeated_across_records_is_listed_once(
    client: TestClient, valid: tuple[dict[str, Any], list[float]]
) -> None:
    rows = [valid[1], *[at(valid[1], 0, -1.0)] * 499]
    error = client.post("/predict", json={"instances": rows}).json()["error"]
    (detail,) = error["details"]
    assert detail["loc"] == ["instances", 1, 0]
    assert detail["msg"].endswith("; the same in 498 more records (2, 3, 4, 5, 6, …)")
    assert error["message"].startswith("invalid input: value 0 (mean_radius) must be between 0 and ")
    assert error["message"].endswith("(499 problems in 499 records)")


def test_the_list_of_distinct_problems_is_capped(client: TestClient, valid: tuple[dict[str, Any], list[float]]) -> None:
    rows = [{f"unknown_{row}": 1.0} for row in range(200)]
    error = client.post("/predict", json={"instances": rows}).json()["error"]
    assert len(error["details"]) == 100
    assert error["message"].endswith("problems in 200 records; the first 100 are listed)")


def test_long_keys_are_shortened_in_errors(client: TestClient, valid: tuple[dict[str, Any], list[float]]) -> None:
    error = client.post("/predict", json=valid[0] | {"k" * 5000: 1}).json()["error"]
    (detail,) = error["details"]
    assert len(detail["loc"][0]) <= 100
    assert len(detail["msg"]) < 300


def test_a_utf8_byte_order_mark_is_ignored(client: TestClient, valid: tuple[dict[str, Any], list[float]]) -> None:
    response = client.post(
        "/predict",
        content=b"\xef\xbb\xbf" + json.dumps(valid[1]).encode(),
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 200


@pytest.mark.parametrize(
    "content_type",
    [None, "application/json; charset=utf-8", "application/json;charset=UTF-8", "application/vnd.api+json"],
)
def test_json_media_types_are_accepted(
    client: TestClient, valid: tuple[dict[str, Any], list[float]], content_type: str | None
) -> None:
    headers = {"content-type": content_type} if content_type else {}
    request = client.build_request("POST", "/predict", content=json.dumps(valid[1]).encode(), headers=headers)
    assert request.headers.get("content-type") == content_type
    assert client.send(request).status_code == 200


def test_identity_encoding_is_accepted(client: TestClient, valid: tuple[dict[str, Any], list[float]]) -> None:
    response = client.post("/predict", json=valid[1], headers={"content-encoding": "identity"})
    assert response.status_code == 200


def test_escaped_keys_are_the_same_keys(client: TestClient, valid: tuple[dict[str, Any], list[float]]) -> None:
    body = json.dumps(valid[0]).replace('"mean_radius"', '"mean\\u005fradius"').encode()
    response = client.post("/predict", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 200
    assert response.json() == client.post("/predict", json=valid[0]).json()


def test_an_escaped_duplicate_is_still_a_duplicate(
    client: TestClient, valid: tuple[dict[str, Any], list[float]]
) -> None:
    body = json.dumps(valid[0]).replace("{", '{"mean\\u005fradius": 1.0, ', 1).encode()
    response = client.post("/predict", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["loc"] == ["mean_radius"]


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", "/predict", 405, "method_not_allowed"),
        ("PUT", "/predict", 405, "method_not_allowed"),
        ("POST", "/health", 405, "method_not_allowed"),
        ("DELETE", "/metadata", 405, "method_not_allowed"),
        ("GET", "/nowhere", 404, "not_found"),
        ("GET", "/v3/models", 404, "not_found"),
    ],
)
def test_wrong_method_and_unknown_path_get_the_same_json_shape(
    client: TestClient, method: str, path: str, status: int, code: str
) -> None:
    response = client.request(method, path, follow_redirects=False)
    assert response.status_code == status
    assert assert_error_shape(response.json())["code"] == code
    if status == 405:
        assert response.headers["allow"]


def test_a_trailing_slash_redirects_keeping_the_method(client: TestClient) -> None:
    response = client.post("/predict/", content=b"[]", follow_redirects=False)
    assert response.status_code == 307
    assert response.headers["location"].endswith("/predict")
