"""The model registry without HTTP: versions, reload, atomic swap, refusal of bad versions, unload, index."""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from neuralnet.artifacts import MODEL_FILE, point_latest_at
from service.errors import ModelNotFoundError, ModelNotReadyError
from service.metrics import Metrics
from service.model import ModelRuntime
from service.registry import ModelRegistry


def _registry(root: Path, metrics: Metrics | None = None) -> ModelRegistry[ModelRuntime]:
    return ModelRegistry(root / "latest", build=lambda runtime: runtime, metrics=metrics or Metrics(), model_name="m")


def _row(runtime: ModelRuntime) -> np.ndarray:
    features = runtime.manifest.features
    return np.array([[(f.training_min + f.training_max) / 2 for f in features]])


def test_reload_follows_latest_and_keeps_the_old_model_for_whoever_holds_it(models_root: Path) -> None:
    registry = _registry(models_root)
    assert registry.reload().result == "loaded"
    held = registry.current()  # a request in flight holds this
    assert held.version == "v-a"
    assert registry.reload().result == "unchanged"  # latest has not moved: nothing is rebuilt

    point_latest_at(models_root, models_root / "v-b")
    outcome = registry.reload()
    assert (outcome.result, outcome.version) == ("loaded", "v-b")
    assert registry.current().version == "v-b"
    assert held.version == "v-a"  # the request in flight finishes on its version
    np.testing.assert_allclose(
        registry.current().predict(_row(held)).probabilities, held.predict(_row(held)).probabilities[:, ::-1]
    )


def test_a_version_that_fails_is_refused_with_a_log_line_a_metric_and_its_reason_in_the_index(
    models_root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    metrics = Metrics()
    registry = _registry(models_root, metrics)
    registry.reload()
    (models_root / "v-b" / MODEL_FILE).write_bytes(b"\x80\x04 corrupted")
    point_latest_at(models_root, models_root / "v-b")
    with caplog.at_level(logging.INFO, logger="service.model"):
        outcome = registry.reload()
    assert outcome.result == "failed"
    assert outcome.reason is not None
    assert outcome.reason.type == "altered"
    assert registry.current().version == "v-a"  # still serving
    [line] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "altered" in line.getMessage()
    assert 'model_load_failures_total{reason="altered"} 1.0' in metrics.render().decode()
    index = {entry.version: entry for entry in registry.index()}
    assert index["v-a"].state == "READY"
    assert index["v-b"].state == "UNAVAILABLE"
    assert index["v-b"].reason.startswith("altered: ")
    assert index["v-b"].latest


def test_load_names_a_version_and_rejects_names_outside_the_root(models_root: Path) -> None:
    registry = _registry(models_root)
    assert registry.load("v-b").version == "v-b"
    assert registry.load("latest").version == "v-a"
    for bad in ("nope", "../v-a", ".hidden", "v-a/../v-b", ""):
        with pytest.raises(ModelNotFoundError):
            registry.load(bad)


def test_unload_makes_the_service_unready_until_the_next_load(models_root: Path) -> None:
    registry = _registry(models_root)
    registry.reload()
    registry.unload()
    with pytest.raises(ModelNotReadyError, match="unloaded"):
        registry.current()
    assert all(entry.state == "UNAVAILABLE" for entry in registry.index())
    assert registry.reload().result == "loaded"


def test_loads_run_one_at_a_time(models_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    registry = _registry(models_root)
    inside, overlap = [0], []
    real_load = ModelRuntime.load

    def counting_load(directory: Path, *args: Any) -> ModelRuntime:
        inside[0] += 1
        overlap.append(inside[0])
        try:
            return real_load(directory, *args)
        finally:
            inside[0] -= 1

    monkeypatch.setattr(ModelRuntime, "load", staticmethod(counting_load))
    threads = [threading.Thread(target=registry.load, args=(v,)) for v in ("v-a", "v-b") * 4]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert max(overlap) == 1


def test_library_version_differences_are_listed_in_the_index(models_root: Path) -> None:
    import json

    manifest = json.loads((models_root / "v-a" / "manifest.json").read_text())
    manifest["library_versions"]["numpy"] = "1.0.0"
    (models_root / "v-a" / "manifest.json").write_text(json.dumps(manifest))
    registry = _registry(models_root)
    registry.reload()
    [entry] = [e for e in registry.index() if e.version == "v-a"]
    assert any(line.startswith("numpy 1.0.0 trained the model") for line in entry.warnings)
    assert os.path.isdir(models_root / "v-a")


def test_rollback_points_latest_at_the_previous_version_after_verifying_it(
    models_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from neuralnet.rollback import main

    for version, created in (("v-a", "2026-01-01T00:00:00Z"), ("v-b", "2026-02-01T00:00:00Z")):
        manifest = json.loads((models_root / version / "manifest.json").read_text())
        manifest["created_at"] = created
        (models_root / version / "manifest.json").write_text(json.dumps(manifest))
    point_latest_at(models_root, models_root / "v-b")
    registry = _registry(models_root)
    registry.reload()

    assert main([str(models_root)]) == 0
    assert capsys.readouterr().out.strip() == "latest: v-b -> v-a"
    assert (models_root / "latest").readlink() == Path("v-a")
    assert registry.reload().version == "v-a"  # what SIGHUP, the watch or a load does next

    assert main([str(models_root)]) == 1  # nothing older than v-a
    assert "no version older than v-a" in capsys.readouterr().err
    (models_root / "v-b" / MODEL_FILE).write_bytes(b"damaged")
    assert main([str(models_root), "v-b"]) == 1  # a target that does not verify: latest stays
    assert "altered" in capsys.readouterr().err
    assert (models_root / "latest").readlink() == Path("v-a")
    assert main([str(models_root), "../elsewhere"]) == 1
    with pytest.raises(SystemExit, match="2"):  # a usage error, said by argparse
        main([])


def test_the_watch_follows_latest(models_root: Path) -> None:
    import asyncio

    registry = _registry(models_root)
    registry.reload()

    async def move_and_wait() -> str:
        watch = asyncio.create_task(registry.watch(0.01))
        point_latest_at(models_root, models_root / "v-b")
        for _ in range(500):
            await asyncio.sleep(0.01)
            if registry.current().version == "v-b":
                break
        watch.cancel()
        return registry.current().version

    assert asyncio.run(move_and_wait()) == "v-b"
