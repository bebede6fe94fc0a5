"""The Open Inference Protocol (V2) endpoints: the specification's shapes, and hostile input refused with 4xx."""

from __future__ import annotations

import json
import re
import struct
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import orjson
import pytest
from fastapi.testclient import TestClient
from numpy.typing import NDArray

from neuralnet.artifacts import Manifest
from neuralnet.inference import ProbabilityModel

Offline = Callable[[NDArray[np.float64]], NDArray[np.float64]]
INFER = "/v2/models/wdbc/infer"
N_FEATURES = 30


def tensor(rows: Any, datatype: str = "FP64", **fields: Any) -> dict[str, Any]:
    array = np.asarray(rows)
    return {"name": "features", "shape": list(array.shape), "datatype": datatype, "data": array.tolist()} | fields


def request(*inputs: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"inputs": list(inputs)} | fields


def binary_body(
    rows: NDArray[Any], datatype: str = "FP64", *, size: int | None = None, extra: bytes = b"", **fields: Any
) -> tuple[bytes, dict[str, str]]:
    raw = rows.tobytes()
    spec = {
        "name": "features",
        "shape": list(rows.shape),
        "datatype": datatype,
        "parameters": {"binary_data_size": len(raw) if size is None else size},
    }
    header = orjson.dumps({"inputs": [spec]} | fields)
    return header + raw + extra, {"Inference-Header-Content-Length": str(len(header))}


def protocol_error(response: Any, status: int) -> str:
    """The protocol's error shape, exactly as Triton's and KServe's clients read it."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"}
    assert isinstance(body["error"], str)
    message: str = body["error"]
    return message


def split_binary(response: Any) -> tuple[dict[str, Any], bytes]:
    length = int(response.headers["inference-header-content-length"])
    return json.loads(response.content[:length]), response.content[length:]


# Health and metadata --------------------------------------------------------------------------------------


def test_health_metadata_and_readiness(client: TestClient, manifest: Manifest) -> None:
    assert client.get("/v2/health/live").json() == {"live": True}
    assert client.get("/v2/health/ready").json() == {"ready": True}
    server = client.get("/v2").json()
    assert server["name"] == "wdbc-diagnosis"
    assert "binary_tensor_data" in server["extensions"]
    for path in ("/v2/models/wdbc", f"/v2/models/wdbc/versions/{manifest.model_version}"):
        metadata = client.get(path).json()
        assert metadata["name"] == "wdbc"
        assert metadata["versions"] == [manifest.model_version]
        assert isinstance(metadata["platform"], str)
        assert metadata["inputs"] == [
            {
                "name": "features",
                "datatype": "FP64",
                "shape": [-1, N_FEATURES],
                "parameters": {"columns": ",".join(f.api_name for f in manifest.features)},
            }
        ]
        assert metadata["outputs"][0]["shape"] == [-1, len(manifest.classes)]
        assert client.get(f"{path}/ready").json() == {"name": "wdbc", "ready": True}


@pytest.mark.parametrize(
    "path",
    ["/v2/models/other", "/v2/models/other/ready", "/v2/models/wdbc/versions/0", "/v2/models/wdbc/versions/0/ready"],
)
def test_unknown_models_and_versions_are_404(client: TestClient, path: str) -> None:
    assert "unknown" in protocol_error(client.get(path), 404)
    assert "unknown" in protocol_error(client.post(f"{path.removesuffix('/ready')}/infer", json={}), 404)


@pytest.mark.parametrize("path", ["/v2/models", "/v2/nowhere", "/v2/models/wdbc/stats"])
def test_other_v2_paths_answer_in_the_protocols_error_shape(client: TestClient, path: str) -> None:
    protocol_error(client.get(path), 404)


def test_without_a_model_everything_but_liveness_is_503(make_client: Callable[..., TestClient], tmp_path: Any) -> None:
    client = make_client(model_dir=tmp_path / "missing")
    assert client.get("/v2/health/live").status_code == 200
    for path in ("/v2/health/ready", "/v2/models/wdbc", "/v2/models/wdbc/ready"):
        protocol_error(client.get(path), 503)
    protocol_error(client.post(INFER, json=request(tensor(np.ones((1, N_FEATURES))))), 503)


# Inference ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("nested", [False, True], ids=["flat", "nested"])
def test_json_fp64_equals_the_offline_pipeline(
    client: TestClient, manifest: Manifest, data_rows: NDArray[np.float64], offline: Offline, nested: bool
) -> None:
    rows = data_rows[:500]
    spec = tensor(rows)
    if not nested:
        spec["data"] = rows.ravel().tolist()
    response = client.post(INFER, json=request(spec, id="42", model_name="ignored", parameters={"custom": 1}))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["model_name"] == "wdbc"
    assert body["model_version"] == manifest.model_version
    assert body["id"] == "42"
    probabilities, labels, *_ = body["outputs"]
    assert probabilities["name"] == "probabilities"
    assert probabilities["datatype"] == "FP64"
    assert probabilities["shape"] == [500, len(manifest.classes)]
    expected = offline(rows)
    np.testing.assert_array_equal(np.array(probabilities["data"]).reshape(500, -1), expected)
    assert labels == {"name": "label", "datatype": "BYTES", "shape": [500], "data": labels["data"]}
    positive = manifest.positive_class_index
    assert [label == manifest.classes[positive] for label in labels["data"]] == (
        expected[:, positive] >= manifest.decision_threshold
    ).tolist()


@pytest.mark.parametrize("datatype", ["FP32", "FP16", "INT64", "INT32", "UINT16"])
def test_other_datatypes_are_read_as_the_client_sent_them(
    client: TestClient, data_rows: NDArray[np.float64], offline: Offline, datatype: str
) -> None:
    dtype = {"FP32": np.float32, "FP16": np.float16, "INT64": np.int64, "INT32": np.int32, "UINT16": np.uint16}
    rows = (
        np.round(data_rows[:5]).astype(dtype[datatype]) if "INT" in datatype else data_rows[:5].astype(dtype[datatype])
    )
    for body, headers in (
        (orjson.dumps(request(tensor(rows, datatype))), {}),
        binary_body(rows, datatype),
    ):
        response = client.post(INFER, content=body, headers=headers)
        assert response.status_code == 200, response.text
        data = response.json()["outputs"][0]["data"]
        np.testing.assert_array_equal(np.array(data).reshape(5, -1), offline(rows.astype(np.float64)))


def test_binary_in_and_out_without_content_type(
    client: TestClient, manifest: Manifest, data_rows: NDArray[np.float64], offline: Offline
) -> None:
    body, headers = binary_body(data_rows, parameters={"binary_data_output": True})
    response = client.post(INFER, content=body, headers=headers)  # no Content-Type, as tritonclient sends
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/octet-stream"
    head, raw = split_binary(response)
    probabilities, labels, *_ = head["outputs"]
    assert "data" not in probabilities
    size = probabilities["parameters"]["binary_data_size"]
    np.testing.assert_array_equal(np.frombuffer(raw[:size], "<f8").reshape(len(data_rows), -1), offline(data_rows))
    label_size = labels["parameters"]["binary_data_size"]
    decoded, rest = [], raw[size : size + label_size]
    while rest:
        (length,) = struct.unpack("<I", rest[:4])
        decoded.append(rest[4 : 4 + length].decode())
        rest = rest[4 + length :]
    assert len(raw) == size + label_size + 9 * len(data_rows)  # then the scores (8 bytes) and flags (1 byte)
    assert set(decoded) <= set(manifest.classes)
    assert len(decoded) == len(data_rows)


def test_requested_outputs_choose_what_and_how(client: TestClient, data_rows: NDArray[np.float64]) -> None:
    outputs = [{"name": "label"}, {"name": "probabilities", "parameters": {"binary_data": True}}]
    response = client.post(INFER, json=request(tensor(data_rows[:2]), outputs=outputs))
    head, raw = split_binary(response)
    assert [output["name"] for output in head["outputs"]] == ["label", "probabilities"]
    assert len(head["outputs"][0]["data"]) == 2
    assert len(raw) == head["outputs"][1]["parameters"]["binary_data_size"] == 2 * 2 * 8
    only = client.post(INFER, json=request(tensor(data_rows[:2]), outputs=[{"name": "label"}])).json()
    assert [output["name"] for output in only["outputs"]] == ["label"]


def test_a_versioned_path_infers_too(client: TestClient, manifest: Manifest, data_rows: NDArray[np.float64]) -> None:
    path = f"/v2/models/wdbc/versions/{manifest.model_version}/infer"
    assert client.post(path, json=request(tensor(data_rows[:1]))).status_code == 200


# Hostile input --------------------------------------------------------------------------------------------

ROW = np.full((1, N_FEATURES), 0.05)
"""A valid row: inside every feature's valid range."""


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([], "JSON object"),
        ({}, "'inputs'"),
        (request(), "'inputs'"),
        (request(tensor(ROW, name="input-0")), "one input, 'features'"),
        (request(tensor(ROW), tensor(ROW)), "one input, 'features'"),
        (request(tensor(ROW, "BYTES")), "datatype 'BYTES'"),
        (request(tensor(ROW, "BOOL")), "datatype 'BOOL'"),
        (request(tensor(ROW, "fp64")), "datatype 'fp64'"),
        (request(tensor(ROW, shape=[30])), "shape must be [n, 30]"),
        (request(tensor(ROW, shape=[1, 29])), "shape must be [n, 30]"),
        (request(tensor(ROW, shape=[1, 30, 1])), "shape must be [n, 30]"),
        (request(tensor(ROW, shape=[1.0, 30])), "shape must be [n, 30]"),
        (request(tensor(ROW, shape=[0, 30], data=[])), "1 to 1000 rows"),
        (request(tensor(ROW, shape=[1001, 30])), "1 to 1000 rows"),
        (request(tensor(ROW, shape=[2, 30])), "nested 'data' must be 2 arrays"),
        (request(tensor(ROW, data=[0.5] * 29)), "'data' has 29 values"),
        (request(tensor(ROW, data=[[0.5] * 29])), "nested 'data'"),
        (request(tensor(ROW, data=[[[0.5] * 30]])), "nested 'data'"),
        (request(tensor(ROW, data="0.5")), "'data' must be an array"),
        (request({"name": "features", "shape": [1, 30], "datatype": "FP64"}), "'data' must be an array"),
        (request(tensor(ROW, data=["0.5"] * 30)), "found str"),
        (request(tensor(ROW, data=[True] * 30)), "found bool"),
        (request(tensor(ROW, data=[None] * 30)), "found NoneType"),
        (request(tensor(ROW, data=[0.5] * 29 + [[0.5]])), "found list"),
        (request(tensor(ROW, "INT64")), "integers only"),
        (request(tensor(np.full((1, 30), 300), "INT8")), "outside the range of its datatype"),
        (request(tensor(np.full((1, 30), -1), "UINT8")), "outside the range of its datatype"),
        (request(tensor(np.full((1, 30), 1e39), "FP32")), "finite"),
        (request(tensor(np.full((1, 30), 1e6))), "valid range"),
        (request(tensor(-ROW)), "valid range"),
        (request(tensor(ROW), id=42), "'id' must be a string"),
        (request(tensor(ROW), parameters=[]), "parameters must be an object"),
        (request(tensor(ROW), parameters={"binary_data_output": "yes"}), "binary_data_output"),
        (request(tensor(ROW, parameters={"shared_memory_region": "r"})), "shared memory"),
        (request(tensor(ROW), outputs={}), "'outputs' must be an array"),
        (request(tensor(ROW), outputs=[{"name": "logits"}]), "unknown output 'logits'"),
        (request(tensor(ROW), outputs=[{"name": "label"}, {"name": "label"}]), "twice"),
        (request(tensor(ROW), outputs=[{"name": "label", "parameters": {"classification": 2}}]), "classification"),
        (request(tensor(ROW), outputs=[{"name": "label", "parameters": {"binary_data": 1}}]), "binary_data"),
    ],
)
def test_invalid_requests_are_400_with_a_message(client: TestClient, document: Any, message: str) -> None:
    assert message in protocol_error(client.post(INFER, json=document), 400)


@pytest.mark.parametrize("rows", [1, 400], ids=["one-row", "above-the-raw-byte-check"])
@pytest.mark.parametrize(
    "poison",
    ["NaN", "Infinity", "-Infinity", "1e309", "true", "null", '"0.5"', "[0.5]", "{}"],
)
def test_a_single_bad_value_among_many_is_refused(client: TestClient, rows: int, poison: str) -> None:
    values = ["0.5"] * (rows * N_FEATURES)
    values[len(values) // 2] = poison
    body = b'{"inputs":[{"name":"features","shape":[%d,30],"datatype":"FP64","data":[%s]}]}' % (
        rows,
        ",".join(values).encode(),
    )
    assert 400 <= client.post(INFER, content=body).status_code < 500


@pytest.mark.parametrize("rows", [1, 400], ids=["one-row", "above-the-raw-byte-check"])
def test_duplicate_keys_are_refused(client: TestClient, rows: int) -> None:
    data = ",".join(["0.5"] * (rows * N_FEATURES)).encode()
    body = b'{"inputs":[{"name":"features","shape":[%d,30],"datatype":"FP64","data":[%s],"data":[%s]}]}' % (
        rows,
        data,
        data,
    )
    assert "duplicate key 'data'" in protocol_error(client.post(INFER, content=body), 400)


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (b'{"inputs":[{"name":"features","shape":[1,30],"datatype":"FP64","datatype":"FP64",%s}]}', "'datatype'"),
        (b'{"inputs":[{"name":"features","shape":[1,30],"datatype":"FP64",%s}],"id":"a","id":"b"}', "'id'"),
        (b'{"inputs":[{"name":"features","shape":[1,30],"datatype":"FP64",%s}],"parameters":{},"parameters":{}}',
         "'parameters'"),
    ],
)  # fmt: skip
def test_duplicate_keys_in_a_binary_requests_json_are_refused(client: TestClient, header: bytes, message: str) -> None:
    header %= b'"parameters":{"binary_data_size":240}'
    body = header + np.full(N_FEATURES, 0.5).tobytes()
    response = client.post(INFER, content=body, headers={"Inference-Header-Content-Length": str(len(header))})
    assert f"duplicate key {message}" in protocol_error(response, 400)


def test_an_escaped_quote_cannot_hide_a_string_in_the_data(client: TestClient) -> None:
    values = ["0.5"] * (400 * N_FEATURES)
    values[7] = '"0.5"'
    body = (
        b'{"id":"\\u0022\\u0022","inputs":[{"name":"features","shape":[400,30],"datatype":"FP64","data":[%s]}]}'
        % ",".join(values).encode()
    )
    assert "found str" in protocol_error(client.post(INFER, content=body), 400)


@pytest.mark.parametrize("datatype", ["FP64", "FP32", "FP16"])
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_binary_values_are_refused(client: TestClient, datatype: str, value: float) -> None:
    rows = np.full((3, N_FEATURES), 0.05, dtype={"FP64": "<f8", "FP32": "<f4", "FP16": "<f2"}[datatype])
    rows[2, 4] = value
    body, headers = binary_body(rows, datatype)
    message = protocol_error(client.post(INFER, content=body, headers=headers), 400)
    assert "row 2" in message
    assert "finite" in message


@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        (lambda body, length: (body, "abc"), "byte length of the JSON"),
        (lambda body, length: (body, "-5"), "byte length of the JSON"),
        (lambda body, length: (body, "\uff11\uff12"), "byte length of the JSON"),
        (lambda body, length: (body, str(len(body) + 1)), "only"),
        (lambda body, length: (body, str(length + 8)), "not valid JSON"),
        (lambda body, length: (body, str(length - 1)), "not valid JSON"),
        (lambda body, length: (body[:-8], str(length)), "only"),
        (lambda body, length: (body + b"\0" * 8, str(length)), "account for"),
    ],
    ids=[
        "not-a-number",
        "negative",
        "non-ascii-digits",
        "past-the-end",
        "into-the-binary",
        "short",
        "truncated",
        "trailing-bytes",
    ],
)
def test_framing_mismatches_are_400(
    client: TestClient, mangle: Callable[[bytes, int], tuple[bytes, str]], message: str
) -> None:
    body, headers = binary_body(np.full((2, N_FEATURES), 0.05))
    mangled, header = mangle(body, int(headers["Inference-Header-Content-Length"]))
    raw_headers: dict[bytes, bytes] = {b"Inference-Header-Content-Length": header.encode()}  # as sent, not as text
    assert message in protocol_error(client.post(INFER, content=mangled, headers=raw_headers), 400)


@pytest.mark.parametrize(("size", "message"), [(8, "takes 480"), (-1, "byte count"), (10**9, "takes 480")])
def test_a_binary_data_size_that_disagrees_with_the_shape_is_400(client: TestClient, size: int, message: str) -> None:
    body, headers = binary_body(np.full((2, N_FEATURES), 0.05), size=size)
    assert message in protocol_error(client.post(INFER, content=body, headers=headers), 400)


def test_data_and_binary_data_together_are_400(client: TestClient) -> None:
    rows = np.full((1, N_FEATURES), 0.5)
    body, headers = binary_body(rows)
    document = json.loads(body[: int(headers["Inference-Header-Content-Length"])])
    document["inputs"][0]["data"] = rows.tolist()
    header = orjson.dumps(document)
    response = client.post(
        INFER, content=header + rows.tobytes(), headers={"Inference-Header-Content-Length": str(len(header))}
    )
    assert "both" in protocol_error(response, 400)


def test_oversized_and_compressed_bodies_are_refused(client: TestClient) -> None:
    protocol_error(client.post(INFER, content=b"0" * (1024 * 1024 + 1)), 413)
    protocol_error(client.post(INFER, content=b"{}", headers={"Content-Encoding": "gzip"}), 415)


def test_deep_nesting_is_refused(client: TestClient) -> None:
    body = b'{"inputs":[{"name":"features","shape":[1,30],"datatype":"FP64","data":[%s]}],"x":%s}' % (
        b",".join([b"0.5"] * 30),
        b"[" * 5000 + b"]" * 5000,
    )
    assert client.post(INFER, content=body).status_code == 400


@pytest.mark.parametrize("indent", [None, 2])
def test_plain_bodies_are_proved_numbers_only_on_their_raw_bytes(indent: int | None) -> None:
    """The fast path's proof holds for what clients send (else every large body takes the slow path)."""
    from service.protocols.v2 import NumbersProof

    document = request(tensor(np.full((400, N_FEATURES), 0.05)), id="x", parameters={"binary_data_output": False})
    body = json.dumps(document, indent=indent).encode()
    assert NumbersProof(body, orjson.loads(body)).numbers_only
    doubled = body.replace(b'"data"', b'"data": [], "data"', 1)
    assert not NumbersProof(doubled, orjson.loads(doubled)).numbers_only


def test_every_schema_reference_in_the_openapi_document_resolves(client: TestClient) -> None:
    """A dangling $ref leaves ReDoc blank and schemathesis blind to that body."""
    spec = client.get("/openapi.json").json()
    references = set(re.findall(r'"\$ref": ?"#/components/schemas/([^"]+)"', json.dumps(spec)))
    assert references <= set(spec["components"]["schemas"])
    infer = spec["paths"]["/v2/models/{model_name}/infer"]["post"]
    assert infer["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/InferenceRequest"
    }


def test_every_row_gets_its_out_of_distribution_score_and_flag(
    client: TestClient, data_rows: NDArray[np.float64], as_named: Any
) -> None:
    rows = data_rows[:40].copy()
    rows[0, 0] *= 3  # mean radius tripled: valid, unlike the training data
    metadata = client.get("/v2/models/wdbc").json()
    assert [output["name"] for output in metadata["outputs"]][2:] == [
        "out_of_distribution_score",
        "out_of_distribution_flagged",
    ]
    body = client.post(INFER, json=request(tensor(rows))).json()
    score, flagged = body["outputs"][2:]
    assert (score["datatype"], score["shape"], flagged["datatype"], flagged["shape"]) == ("FP64", [40], "BOOL", [40])
    expected = client.post("/predict", json={"instances": rows.tolist()}).json()["predictions"]
    assert score["data"] == [p["out_of_distribution"]["score"] for p in expected]
    assert flagged["data"] == [p["out_of_distribution"]["flagged"] for p in expected]
    assert flagged["data"][0] is True
    body, headers = binary_body(rows, parameters={"binary_data_output": True})
    head, raw = split_binary(client.post(INFER, content=body, headers=headers))
    sizes = [output["parameters"]["binary_data_size"] for output in head["outputs"]]
    flags = np.frombuffer(raw[sum(sizes[:3]) :], dtype="?")
    assert flags.tolist() == flagged["data"]
    only = client.post(INFER, json=request(tensor(rows), outputs=[{"name": "out_of_distribution_flagged"}])).json()
    assert [output["name"] for output in only["outputs"]] == ["out_of_distribution_flagged"]


def test_the_server_answers_health_checks_while_a_large_batch_is_computed(
    make_client: Callable[..., TestClient], data_rows: NDArray[np.float64], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A large body is worked on outside the event loop: the model here holds a 10,000-row batch until the
    health check has been answered, which could not happen if the batch held the loop."""
    computing, answered = threading.Event(), threading.Event()
    predict_proba = ProbabilityModel.predict_proba

    def held(model: ProbabilityModel, X: NDArray[np.float64]) -> NDArray[np.float64]:
        if len(X) > 1:
            computing.set()
            answered.wait(timeout=10)
        return predict_proba(model, X)

    monkeypatch.setattr(ProbabilityModel, "predict_proba", held)
    client = make_client()
    body, headers = binary_body(data_rows[np.arange(10_000) % len(data_rows)])
    with ThreadPoolExecutor(max_workers=1) as pool:
        batch = pool.submit(client.post, INFER, content=body, headers=headers)
        assert computing.wait(timeout=30)
        health = client.get("/v2/health/live")
        held_meanwhile = not answered.is_set() and not batch.done()
        answered.set()
        assert health.status_code == 200
        assert held_meanwhile
        response = batch.result(timeout=30)
    assert response.status_code == 200
    assert json.loads(response.content)["outputs"][0]["shape"] == [10_000, 2]
