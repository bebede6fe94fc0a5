"""What a prediction carries besides its probabilities: the out-of-distribution check on every record, an
explanation on request, the threshold's provenance in /metadata, and the model card."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from numpy.typing import NDArray

from neuralnet.artifacts import MANIFEST_FILE, Manifest, load_serving_files
from neuralnet.attribution import TOLERANCE
from neuralnet.inference import ProbabilityModel
from training import dataset


@pytest.fixture(scope="module")
def heldout() -> NDArray[np.float64]:
    """The rows the fixture model was not trained on (seed 0, as in conftest's model_dir)."""
    return dataset.split_dataset(dataset.load_dataset(), 0).X_test


def _batch(rows: NDArray[np.float64]) -> dict[str, Any]:
    return {"instances": rows.tolist()}


def test_every_prediction_carries_the_out_of_distribution_score_of_the_saved_statistics(
    client: TestClient, model_dir: Path, heldout: NDArray[np.float64], manifest: Manifest
) -> None:
    predictions = client.post("/predict", json=_batch(heldout)).json()["predictions"]
    detector = load_serving_files(model_dir).novelty
    assert detector is not None
    expected = detector.score(heldout)
    names = [feature.api_name for feature in manifest.features]
    for prediction, score, flagged, index in zip(
        predictions, expected.score, expected.flagged, expected.feature_index, strict=True
    ):
        assert prediction["out_of_distribution"] == {"score": score, "flagged": bool(flagged), "feature": names[index]}
    assert sum(p["out_of_distribution"]["flagged"] for p in predictions) <= 2  # the goal is <= 2 %


def test_a_valid_record_with_one_feature_tripled_is_flagged_named_and_still_predicted(
    client: TestClient, heldout: NDArray[np.float64], as_named: Callable[[Any], dict[str, Any]]
) -> None:
    typical = next(row for row in heldout if row[0] < 15)
    shifted = typical.copy()
    shifted[0] *= 3  # mean radius x3: within the valid range, not with this perimeter and area
    before = client.post("/predict", json=as_named(typical)).json()
    flagged_before = _flagged_count(client)
    after = client.post("/predict", json=as_named(shifted)).json()
    assert _flagged_count(client) == flagged_before + 1  # for the /metrics drift signal
    assert before["out_of_distribution"]["flagged"] is False
    assert after["out_of_distribution"]["flagged"] is True
    assert after["out_of_distribution"]["score"] > 1.0
    assert after["out_of_distribution"]["feature"] == "mean_radius"
    assert after["label"] in ("malignant", "benign")


def _flagged_count(client: TestClient) -> float:
    lines = client.get("/metrics").text.splitlines()
    return next(float(line.split()[-1]) for line in lines if line.startswith("predictions_out_of_distribution_total"))


def test_explanations_come_only_when_asked_and_add_up_to_the_probability(
    client: TestClient, heldout: NDArray[np.float64], manifest: Manifest
) -> None:
    rows = heldout[:20]
    plain = client.post("/predict", json=_batch(rows)).json()["predictions"]
    assert all("explanation" not in p for p in plain)
    assert client.post("/predict?explain=false", json=_batch(rows)).json()["predictions"] == plain
    explained = client.post("/predict?explain=true", json=_batch(rows)).json()["predictions"]
    names = [feature.api_name for feature in manifest.features]
    for row, before, after in zip(rows, plain, explained, strict=True):
        explanation = after.pop("explanation")
        assert after == before  # the rest of the answer is unchanged
        attributions = explanation["attributions"]
        assert list(attributions) == names
        gap = after["probability_malignant"] - explanation["baseline_probability"]
        assert abs(sum(attributions.values()) - gap) <= TOLERANCE * max(abs(gap), 1e-3)
        top = explanation["top_features"]
        assert [t["feature"] for t in top] == sorted(names, key=lambda n: -abs(attributions[n]))[:5]
        for item in top:
            assert item["value"] == row[names.index(item["feature"])]
            assert item["attribution"] == attributions[item["feature"]]
            assert item["direction"] == ("malignant" if item["attribution"] > 0 else "benign")
        assert explanation["method"] == "integrated_gradients"
        assert explanation["output"] == "probability_malignant"


def test_a_single_record_is_explained_too(client: TestClient, heldout: NDArray[np.float64]) -> None:
    body = client.post("/predict?explain=1", json=heldout[0].tolist()).json()
    assert set(body) >= {"label", "out_of_distribution", "explanation", "model_version"}
    assert len(body["explanation"]["top_features"]) == 5


@pytest.mark.parametrize("value", ["yes", "", "2", "TRUE!"])
def test_an_explain_flag_that_is_not_true_or_false_is_refused(
    client: TestClient, heldout: NDArray[np.float64], value: str
) -> None:
    response = client.post("/predict", params={"explain": value}, json=heldout[0].tolist())
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["details"][0]["loc"] == ["query", "explain"]
    assert "true or false" in error["message"]


@pytest.fixture
def explain_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    original = ProbabilityModel.explain

    def counting(self: ProbabilityModel, X: NDArray[np.float64], class_index: int) -> Any:
        calls.append(len(X))
        return original(self, X, class_index)

    monkeypatch.setattr(ProbabilityModel, "explain", counting)
    return calls


def test_unexplained_requests_do_not_compute_explanations(
    client: TestClient, heldout: NDArray[np.float64], explain_calls: list[int]
) -> None:
    client.post("/predict", json=_batch(heldout[:50]))
    client.post("/predict?explain=false", json=heldout[0].tolist())
    assert explain_calls == []
    client.post("/predict?explain=true", json=_batch(heldout[:3]))
    assert explain_calls == [3]


def test_metadata_says_how_the_threshold_was_chosen_and_where_the_card_is(
    client: TestClient, manifest: Manifest
) -> None:
    metadata = client.get("/metadata").json()
    assert metadata["decision_threshold"] == manifest.decision_threshold
    assert metadata["threshold_selection"] == manifest.threshold_selection
    assert metadata["threshold_selection"]["method"].startswith("fixed at 0.5")  # the fixture skips the CV
    assert metadata["model_card"] == "/model-card"
    assert set(metadata["out_of_distribution"]["thresholds"]) == {"distance", "residual"}


def test_the_model_card_is_served_as_json_and_markdown(client: TestClient, model_dir: Path) -> None:
    card = client.get("/model-card")
    assert card.status_code == 200
    assert card.headers["content-type"] == "application/json"
    assert card.content == (model_dir / "model_card.json").read_bytes()
    assert "Not a diagnosis" in card.json()["intended_use"]["primary"]
    markdown = client.get("/model-card.md")
    assert markdown.status_code == 200
    assert markdown.headers["content-type"].startswith("text/markdown")
    assert markdown.text == (model_dir / "model_card.md").read_text()


def test_a_model_written_without_card_or_statistics_is_served_without_them(
    model_copy: Path, make_client: Callable[..., TestClient], heldout: NDArray[np.float64]
) -> None:
    manifest = json.loads((model_copy / MANIFEST_FILE).read_bytes())
    for name in ("model_card.json", "model_card.md", "novelty.npz"):
        del manifest["artifacts"][name]
        (model_copy / name).unlink()
    (model_copy / MANIFEST_FILE).write_text(json.dumps(manifest))
    client = make_client(model_dir=model_copy)
    assert client.get("/ready").status_code == 200
    prediction = client.post("/predict", json=heldout[0].tolist()).json()
    assert "out_of_distribution" not in prediction
    assert "label" in prediction
    missing = client.get("/model-card")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "no_model_card"
    metadata = client.get("/metadata").json()
    assert metadata["model_card"] is None
    assert metadata["out_of_distribution"] is None
    v2 = client.get("/v2/models/wdbc").json()
    assert [output["name"] for output in v2["outputs"]] == ["probabilities", "label"]
    answer = client.post(
        "/v2/models/wdbc/infer",
        json={"inputs": [{"name": "features", "shape": [1, 30], "datatype": "FP64", "data": heldout[0].tolist()}]},
    )
    assert [output["name"] for output in answer.json()["outputs"]] == ["probabilities", "label"]


def test_the_openapi_document_shows_the_flag_and_an_explained_example(client: TestClient) -> None:
    operation = client.get("/openapi.json").json()["paths"]["/predict"]["post"]
    assert [p["name"] for p in operation["parameters"]] == ["explain"]
    examples = operation["responses"]["200"]["content"]["application/json"]["examples"]
    assert "explanation" in examples["named_explained"]["value"]
    assert "out_of_distribution" in examples["named"]["value"]
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    assert {"out_of_distribution", "explanation"} <= set(schemas["Prediction"]["properties"])
