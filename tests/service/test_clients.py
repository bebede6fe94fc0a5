"""Triton's and KServe's own Python clients, unchanged, against a real server process.

Every probability must equal the offline pipeline's (``make_pipeline(scaler, model).predict_proba``) on all
569 rows of the data set, in each protocol and each framing the clients offer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import tritonclient.http as triton
from kserve import InferenceRESTClient, RESTConfig
from kserve.protocol.infer_type import InferInput, InferRequest, RequestedOutput
from numpy.typing import NDArray
from tritonclient.utils import InferenceServerException

from neuralnet.artifacts import Manifest
from tests.live_server import Server, running

pytestmark = pytest.mark.slow

MODEL = "wdbc"
OOD_OUTPUTS = ("out_of_distribution_score", "out_of_distribution_flagged")
Offline = Callable[[NDArray[np.float64]], NDArray[np.float64]]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, model_dir: Path) -> Iterator[Server]:
    with running(tmp_path_factory.mktemp("clients"), model_dir, ACCESS_LOG="false") as live:
        yield live


@pytest.fixture(scope="module")
def triton_client(server: Server) -> Iterator[Any]:
    client = triton.InferenceServerClient(server.base_url.removeprefix("http://"), network_timeout=60)
    yield client
    client.close()


def _labels(manifest: Manifest, probabilities: NDArray[np.float64]) -> list[str]:
    positive = manifest.positive_class_index
    return [
        manifest.classes[positive] if p >= manifest.decision_threshold else manifest.classes[1 - positive]
        for p in probabilities[:, positive].tolist()
    ]


def _texts(labels: NDArray[Any]) -> list[str]:
    """BYTES elements as text: bytes from binary data, str from JSON."""
    return [label.decode() if isinstance(label, bytes) else str(label) for label in labels.tolist()]


# Triton's client ------------------------------------------------------------------------------------------


def test_triton_health_and_metadata(triton_client: Any, manifest: Manifest) -> None:
    assert triton_client.is_server_live()
    assert triton_client.is_server_ready()
    assert triton_client.is_model_ready(MODEL)
    assert triton_client.is_model_ready(MODEL, manifest.model_version)
    assert not triton_client.is_model_ready("other")
    server = triton_client.get_server_metadata()
    assert "binary_tensor_data" in server["extensions"]
    metadata = triton_client.get_model_metadata(MODEL)
    assert metadata["versions"] == [manifest.model_version]
    assert metadata["inputs"][0]["shape"] == [-1, len(manifest.features)]
    assert [output["name"] for output in metadata["outputs"]] == [
        "probabilities",
        "label",
        "out_of_distribution_score",
        "out_of_distribution_flagged",
    ]


@pytest.mark.parametrize(
    ("datatype", "binary"),
    [("FP64", True), ("FP64", False), ("FP32", True), ("FP32", False)],
    ids=["FP64-binary", "FP64-json", "FP32-binary", "FP32-json"],
)
def test_triton_infer_equals_the_offline_pipeline_on_every_row(
    triton_client: Any,
    manifest: Manifest,
    data_rows: NDArray[np.float64],
    offline: Offline,
    datatype: str,
    binary: bool,
) -> None:
    rows = data_rows.astype(np.float32) if datatype == "FP32" else data_rows
    features = triton.InferInput("features", list(rows.shape), datatype)
    features.set_data_from_numpy(rows, binary_data=binary)
    outputs = (
        None
        if binary
        else [triton.InferRequestedOutput(name, binary_data=False) for name in ("probabilities", "label")]
    )
    result = triton_client.infer(MODEL, [features], outputs=outputs, request_id="r-569")
    expected = offline(rows.astype(np.float64))
    np.testing.assert_array_equal(result.as_numpy("probabilities"), expected)
    assert _texts(result.as_numpy("label")) == _labels(manifest, expected)
    response = result.get_response()
    assert response["id"] == "r-569"
    assert response["model_version"] == manifest.model_version


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_triton_reads_every_rows_out_of_distribution_score_and_flag(
    server: Server, triton_client: Any, data_rows: NDArray[np.float64], binary: bool
) -> None:
    rows = data_rows.copy()
    rows[:10, 0] *= 3  # mean radius tripled: within the valid range, unlike the training rows
    features = triton.InferInput("features", list(rows.shape), "FP64")
    features.set_data_from_numpy(rows, binary_data=binary)
    outputs = None if binary else [triton.InferRequestedOutput(name, binary_data=False) for name in OOD_OUTPUTS]
    result = triton_client.infer(MODEL, [features], outputs=outputs)  # None: every output, in binary
    score, flagged = (result.as_numpy(name) for name in OOD_OUTPUTS)
    expected = httpx.post(server.base_url + "/predict", json={"instances": rows.tolist()}).json()["predictions"]
    assert (score.dtype, flagged.dtype, score.shape, flagged.shape) == (np.float64, np.bool_, (569,), (569,))
    assert score.tolist() == [p["out_of_distribution"]["score"] for p in expected]
    assert flagged.tolist() == [p["out_of_distribution"]["flagged"] for p in expected]
    assert flagged[:10].all()


def test_triton_with_a_version_in_the_path_and_one_output(
    triton_client: Any, manifest: Manifest, data_rows: NDArray[np.float64], offline: Offline
) -> None:
    features = triton.InferInput("features", [3, data_rows.shape[1]], "FP64")
    features.set_data_from_numpy(data_rows[:3])
    result = triton_client.infer(
        MODEL, [features], model_version=manifest.model_version, outputs=[triton.InferRequestedOutput("label")]
    )
    assert result.as_numpy("probabilities") is None
    assert _texts(result.as_numpy("label")) == _labels(manifest, offline(data_rows[:3]))


@pytest.mark.parametrize(
    ("model", "rows", "message"),
    [
        ("other", np.ones((1, 30)), "unknown model 'other'"),
        (MODEL, np.full((1, 30), np.nan), "finite"),
        (MODEL, np.ones((1, 29)), "shape must be [n, 30]"),
        (MODEL, -np.ones((1, 30)), "valid range"),
    ],
    ids=["unknown-model", "nan", "wrong-shape", "out-of-range"],
)
def test_triton_errors_are_readable_exceptions(
    triton_client: Any, model: str, rows: NDArray[np.float64], message: str
) -> None:
    features = triton.InferInput("features", list(rows.shape), "FP64")
    features.set_data_from_numpy(rows)
    with pytest.raises(InferenceServerException) as raised:
        triton_client.infer(model, [features])
    assert message in str(raised.value)  # the client's own printing needs a string 'error'
    assert raised.value.status() in ("400", "404")


# KServe's client ------------------------------------------------------------------------------------------


def _kserve(protocol: str, call: Callable[[InferenceRESTClient], Any]) -> Any:
    async def run() -> Any:
        async with InferenceRESTClient(RESTConfig(protocol=protocol, timeout=60)) as client:
            return await call(client)

    return asyncio.run(run())


def test_kserve_health(server: Server) -> None:
    url = server.base_url
    assert _kserve("v2", lambda c: c.is_server_live(url)) is True
    assert _kserve("v2", lambda c: c.is_server_ready(url)) is True
    assert _kserve("v2", lambda c: c.is_model_ready(url, MODEL)) is True
    assert _kserve("v1", lambda c: c.is_server_live(url)) is True
    assert _kserve("v1", lambda c: c.is_model_ready(url, MODEL)) is True


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_kserve_v2_infer_equals_the_offline_pipeline_on_every_row(
    server: Server, manifest: Manifest, data_rows: NDArray[np.float64], offline: Offline, binary: bool
) -> None:
    features = InferInput("features", list(data_rows.shape), "FP64")
    features.set_data_from_numpy(data_rows, binary_data=binary)
    outputs = [RequestedOutput(name, parameters={"binary_data": binary}) for name in ("probabilities", "label")]
    request = InferRequest(MODEL, [features], request_outputs=outputs)
    response = _kserve("v2", lambda c: c.infer(server.base_url, request, model_name=MODEL))
    assert response.model_name == MODEL
    by_name = {output.name: output for output in response.outputs}
    expected = offline(data_rows)
    np.testing.assert_array_equal(by_name["probabilities"].as_numpy(), expected)
    assert _texts(by_name["label"].as_numpy()) == _labels(manifest, expected)


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_kserve_v2_reads_every_output_when_none_is_named(
    server: Server, data_rows: NDArray[np.float64], offline: Offline, binary: bool
) -> None:
    features = InferInput("features", list(data_rows.shape), "FP64")
    features.set_data_from_numpy(data_rows, binary_data=True)
    request = InferRequest(MODEL, [features], parameters={"binary_data_output": binary})
    response = _kserve("v2", lambda c: c.infer(server.base_url, request, model_name=MODEL))
    by_name = {output.name: output.as_numpy() for output in response.outputs}
    assert list(by_name) == ["probabilities", "label", *OOD_OUTPUTS]
    np.testing.assert_array_equal(by_name["probabilities"], offline(data_rows))
    np.testing.assert_array_equal(by_name["out_of_distribution_flagged"], by_name["out_of_distribution_score"] > 1)
    assert by_name["out_of_distribution_flagged"].dtype == np.bool_


@pytest.mark.parametrize("named", [False, True], ids=["arrays", "named"])
def test_kserve_v1_predict_equals_the_offline_pipeline_on_every_row(
    server: Server,
    data_rows: NDArray[np.float64],
    offline: Offline,
    as_named: Callable[[Any], dict[str, Any]],
    named: bool,
) -> None:
    instances = [as_named(row) for row in data_rows] if named else data_rows.tolist()
    response = _kserve("v1", lambda c: c.infer(server.base_url, {"instances": instances}, model_name=MODEL))
    probabilities = np.array([list(p["probabilities"].values()) for p in response["predictions"]])
    np.testing.assert_array_equal(probabilities, offline(data_rows))


def test_kserve_v1_explain_answers_kserves_explanations_beside_the_predictions(
    server: Server, manifest: Manifest, data_rows: NDArray[np.float64], offline: Offline
) -> None:
    url, instances = server.base_url, data_rows.tolist()
    response = _kserve("v1", lambda c: c.explain(url, model_name=MODEL, data={"instances": instances}))
    explanations = response.pop("explanations")
    assert response == _kserve("v1", lambda c: c.infer(url, {"instances": instances}, model_name=MODEL))
    assert len(explanations) == len(data_rows)
    baselines = np.array([explanation["baseline_probability"] for explanation in explanations])
    sums = np.array([sum(explanation["attributions"].values()) for explanation in explanations])
    gaps = offline(data_rows)[:, manifest.positive_class_index] - baselines
    np.testing.assert_allclose(sums, gaps, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("protocol", ["v1", "v2"])
def test_kserve_errors_carry_the_servers_message(server: Server, protocol: str) -> None:
    data: Any
    if protocol == "v1":
        data = {"instances": [[1.0] * 29]}
    else:
        features = InferInput("features", [1, 29], "FP64")
        features.set_data_from_numpy(np.ones((1, 29)), binary_data=True)
        data = InferRequest(MODEL, [features])
    with pytest.raises(httpx.HTTPStatusError) as raised:
        _kserve(protocol, lambda c: c.infer(server.base_url, data, model_name=MODEL))
    assert raised.value.response.status_code == 400
    assert "30" in str(raised.value)  # the server's message, read from {"error": "..."}
