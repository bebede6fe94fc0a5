"""Fixtures of the service tests: a real model directory trained once per session, apps and clients."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from numpy.typing import NDArray
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource
from sklearn.datasets import load_breast_cancer
from sklearn.pipeline import make_pipeline

from neuralnet.artifacts import LoadedModel, Manifest, load_model_dir
from service import create_app
from service.settings import Settings
from training.pipeline import train_model_dir

INSTANCE = "test-instance"


class IsolatedSettings(Settings):
    """Settings from keyword arguments only: the environment of the test run cannot leak in."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real model directory written by the trainer (a few seconds, once per session). Do not modify it."""
    directory = tmp_path_factory.mktemp("service-model") / "model"
    train_model_dir(directory, preset="default", random_state=0, cv_repeats=0)
    return directory


@pytest.fixture
def model_copy(model_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the model directory, for tests that damage it."""
    return Path(shutil.copytree(model_dir, tmp_path / "model"))


@pytest.fixture(scope="session")
def loaded(model_dir: Path) -> LoadedModel:
    return load_model_dir(model_dir)


@pytest.fixture(scope="session")
def manifest(loaded: LoadedModel) -> Manifest:
    return loaded.manifest


@pytest.fixture(scope="session")
def names(manifest: Manifest) -> list[str]:
    return [feature.api_name for feature in manifest.features]


@pytest.fixture(scope="session")
def data_rows() -> NDArray[np.float64]:
    """All 569 rows of the data set, in its feature order."""
    data: Any = load_breast_cancer()
    return np.ascontiguousarray(data.data, dtype=np.float64)


@pytest.fixture(scope="session")
def offline(loaded: LoadedModel) -> Callable[[NDArray[np.float64]], NDArray[np.float64]]:
    """The offline pipeline's ``predict_proba``: the reference the service must equal, bit for bit.

    Compare batches of the same size: BLAS may sum in another order for another number of rows.
    """
    pipeline = make_pipeline(loaded.scaler, loaded.model)

    def predict_proba(rows: NDArray[np.float64]) -> NDArray[np.float64]:
        result: NDArray[np.float64] = pipeline.predict_proba(np.atleast_2d(rows))
        return result

    return predict_proba


@pytest.fixture(scope="session")
def offline_proba(
    offline: Callable[[NDArray[np.float64]], NDArray[np.float64]], data_rows: NDArray[np.float64]
) -> NDArray[np.float64]:
    """The offline pipeline's probabilities of all 569 rows, predicted as one batch."""
    return offline(data_rows)


@pytest.fixture(scope="session")
def make_settings(model_dir: Path) -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {"model_dir": model_dir, "instance_name": INSTANCE, "access_log": False}
        return IsolatedSettings(**(values | overrides))

    return make


@pytest.fixture
def make_client(make_settings: Callable[..., Settings]) -> Iterator[Callable[..., TestClient]]:
    """Start a fresh app (its lifespan runs) with the given settings; closed at teardown."""
    clients: list[TestClient] = []

    def make(**overrides: Any) -> TestClient:
        client = TestClient(create_app(make_settings(**overrides)), raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture(scope="session")
def shared_app(make_settings: Callable[..., Settings]) -> FastAPI:
    return create_app(make_settings(max_batch_rows=1000, max_body_bytes=1024 * 1024))


@pytest.fixture(scope="session")
def client(shared_app: FastAPI) -> Iterator[TestClient]:
    """One app for the read-only tests (limits: 1,000 rows, 1 MiB). Tests that count metrics make their own."""
    with TestClient(shared_app, raise_server_exceptions=False) as shared:
        yield shared


@pytest.fixture(scope="session")
def as_named(names: list[str]) -> Callable[[Any], dict[str, Any]]:
    """Turn one row (array-like of 30 values) into the named form of a record."""

    def convert(row: Any) -> dict[str, Any]:
        values = row.tolist() if isinstance(row, np.ndarray) else list(row)
        return dict(zip(names, values, strict=True))

    return convert
