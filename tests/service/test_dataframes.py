"""What users of pandas and NumPy send: the data set's own column names, whole frames, and near-miss shapes.

Each near miss gets one problem that says how to fix the shape, not one problem per value.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sklearn.datasets import load_breast_cancer

BATCH_HINT = 'wrap records in {"instances": [...]}'
Frame = Any
"""A pandas DataFrame (pandas ships no type information)."""


@pytest.fixture(scope="module")
def frame() -> Frame:
    """The data set as users load it: columns named like 'mean radius'."""
    data: Any = load_breast_cancer(as_frame=True)
    return data.data


def _error(response: Any) -> dict[str, Any]:
    assert response.status_code == 422, response.text
    error: dict[str, Any] = response.json()["error"]
    return error


def test_one_row_with_the_data_sets_column_names(client: TestClient, frame: Frame) -> None:
    by_dataset_names = client.post("/predict", json=frame.iloc[0].to_dict())
    as_array = client.post("/predict", json=frame.iloc[0].tolist())
    assert by_dataset_names.status_code == 200, by_dataset_names.text
    assert by_dataset_names.json() == as_array.json()


def test_a_whole_frame_as_records(client: TestClient, frame: Frame) -> None:
    response = client.post("/predict", json={"instances": frame.to_dict(orient="records")})
    assert response.status_code == 200, response.text
    expected = client.post("/predict", json={"instances": frame.to_numpy().tolist()}).json()
    assert response.json() == expected
    assert len(expected["predictions"]) == len(frame)


def test_both_conventions_agree_on_a_small_batch(client: TestClient, frame: Frame, names: list[str]) -> None:
    """Below and above the plain-Python threshold of the fast path."""
    for n_rows in (3, 12):
        rows = frame.iloc[:n_rows]
        snake = rows.set_axis(names, axis=1).to_dict(orient="records")
        first = client.post("/predict", json={"instances": rows.to_dict(orient="records")})
        assert first.status_code == 200, first.text
        assert first.json() == client.post("/predict", json={"instances": snake}).json()


def test_a_bare_list_of_records_is_told_to_wrap_them(client: TestClient, frame: Frame) -> None:
    error = _error(client.post("/predict", json=frame.to_dict(orient="records")))
    (detail,) = error["details"]
    assert detail["type"] == "bare_batch"
    assert BATCH_HINT in error["message"]
    assert "569 records" in error["message"]


def test_a_bare_list_of_arrays_is_told_to_wrap_them(client: TestClient, frame: Frame) -> None:
    error = _error(client.post("/predict", json=frame.to_numpy()[:5].tolist()))
    assert [detail["type"] for detail in error["details"]] == ["bare_batch"]
    assert BATCH_HINT in error["message"]


def test_one_row_sliced_from_an_array_is_one_level_too_deep(client: TestClient, frame: Frame) -> None:
    array = frame.to_numpy()
    error = _error(client.post("/predict", json=array[:1].tolist()))
    (detail,) = error["details"]
    assert detail["type"] == "nested_too_deep"
    assert "send the inner array" in detail["msg"]
    assert BATCH_HINT in detail["msg"]
    nested_batch = _error(client.post("/predict", json={"instances": [array[:3].tolist()]}))
    assert [detail["type"] for detail in nested_batch["details"]] == ["nested_too_deep"]
    assert nested_batch["details"][0]["loc"] == ["instances", 0]


@pytest.mark.parametrize("orient", ["dict", "list"])
def test_columns_instead_of_rows_are_named_as_such(client: TestClient, frame: Frame, orient: str) -> None:
    error = _error(client.post("/predict", json=frame.iloc[:3].to_dict(orient=orient)))
    assert [detail["type"] for detail in error["details"]] == ["columns_not_rows"]
    assert 'df.to_dict(orient="records")' in error["message"]


def test_one_naming_convention_per_record(client: TestClient, frame: Frame, names: list[str]) -> None:
    record = frame.iloc[0].to_dict()
    mixed = {("mean_radius" if key == "mean radius" else key): value for key, value in record.items()}
    error = _error(client.post("/predict", json=mixed))
    first = error["details"][0]
    assert first["loc"] == ["mean_radius"]
    assert "did you mean 'mean radius'? (one naming convention per request" in first["msg"]
    assert error["message"].startswith("invalid input: unknown field 'mean_radius'")
    both = _error(client.post("/predict", json=record | {"mean_radius": record["mean radius"]}))
    assert both["details"][0]["loc"] == ["mean_radius"]


def test_one_naming_convention_per_batch(client: TestClient, frame: Frame, names: list[str]) -> None:
    rows = frame.iloc[:2]
    records = [rows.iloc[:1].to_dict(orient="records")[0], rows.iloc[1:].set_axis(names, axis=1).to_dict("records")[0]]
    error = _error(client.post("/predict", json={"instances": records}))
    assert all(detail["loc"][:2] == ["instances", 1] for detail in error["details"])
    assert "one naming convention per request" in error["details"][0]["msg"]


def test_a_whole_frame_of_problems_is_summarised(client: TestClient, frame: Frame) -> None:
    """Every value out of range in every record: one detail per feature, not 17,070."""
    error = _error(client.post("/predict", json={"instances": (-frame - 1).to_dict(orient="records")}))
    assert len(error["details"]) == frame.shape[1]
    assert error["details"][0]["loc"] == ["instances", 0, "mean radius"]
    assert "the same in 568 more records" in error["details"][0]["msg"]
    assert error["message"].endswith(f"({frame.size} problems in {len(frame)} records)")


def test_a_misspelled_data_set_name_gets_a_hint_in_that_convention(client: TestClient, frame: Frame) -> None:
    record = frame.iloc[0].to_dict()
    record["mean radus"] = record.pop("mean radius")
    error = _error(client.post("/predict", json=record))
    assert error["message"].startswith("invalid input: unknown field 'mean radus'; did you mean 'mean radius'?")
    assert error["details"][-1] == {"loc": ["mean radius"], "msg": "missing field 'mean radius'", "type": "missing"}


def test_limits_in_messages_are_rounded(client: TestClient, frame: Frame) -> None:
    errors = _error(client.post("/predict", json={"instances": [(np.full(frame.shape[1], 1e6)).tolist()]}))
    for detail in errors["details"]:
        limits = re.findall(r"between (\S+) and (\S+) ", detail["msg"])
        assert limits, detail
        for text in limits[0]:
            assert len(text.lstrip("-").replace(".", "")) <= 6 or "e" in text, detail["msg"]
