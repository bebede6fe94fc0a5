"""``python -m training`` end to end: a complete, verifiable model directory with the right manifest."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split

from neuralnet.artifacts import MANIFEST_FILE, LoadedModel, load_model_dir, load_serving_files
from training import cli
from training.dataset import VALID_MAX_FACTOR

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path]:
    destination = tmp_path_factory.mktemp("cli") / "model"
    completed = subprocess.run(
        [sys.executable, "-m", "training", "--cv-repeats", "0", "--output-dir", str(destination)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return completed, destination


@pytest.fixture(scope="module")
def loaded(run: tuple[subprocess.CompletedProcess[str], Path]) -> LoadedModel:
    completed, destination = run
    assert completed.returncode == 0, completed.stderr
    return load_model_dir(destination)


def _training_rows(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    data = load_breast_cancer()
    X_train, _, y_train, _ = train_test_split(
        data.data, data.target, test_size=0.2, random_state=seed, stratify=data.target
    )
    return X_train, y_train


def test_cli_exits_0_prints_the_summary_and_logs_progress_on_stderr(
    run: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    completed, destination = run
    assert completed.returncode == 0, completed.stderr
    assert "held-out rows (114)" in completed.stdout
    assert "accuracy" in completed.stdout
    assert str(destination) in completed.stdout
    assert "fitting default" in completed.stderr
    assert "Traceback" not in completed.stderr


def test_model_directory_verifies_and_predicts(loaded: LoadedModel) -> None:
    data = load_breast_cancer()
    proba = loaded.model.predict_proba(loaded.scaler.transform(data.data))
    assert proba.shape == (569, 2)
    assert np.allclose(proba.sum(axis=1), 1.0)
    names = set(loaded.manifest.artifacts)
    assert {"scaler.joblib", "model.joblib", "report.md"} <= names
    assert MANIFEST_FILE not in names


def test_features_are_the_30_data_set_columns_in_order_with_training_bounds(loaded: LoadedModel) -> None:
    data = load_breast_cancer()
    X_train, _ = _training_rows()
    features = loaded.manifest.features
    assert [f.name for f in features] == list(data.feature_names)
    assert features[0].api_name == "mean_radius"
    assert features[-1].api_name == "worst_fractal_dimension"
    assert [f.api_name for f in features] == [str(n).replace(" ", "_") for n in data.feature_names]
    for column, feature in enumerate(features):
        assert feature.training_min == X_train[:, column].min()
        assert feature.training_max == X_train[:, column].max()
        assert feature.valid_min == 0.0
        assert feature.valid_max == pytest.approx(VALID_MAX_FACTOR * X_train[:, column].max(), rel=5e-4)
        assert feature.valid_max == float(f"{feature.valid_max:.4g}"), "limits are shown exactly in messages"
    # bounds come from the training rows only: at least one column's all-rows max lies outside them
    assert any(f.training_max < data.data[:, i].max() for i, f in enumerate(features))


def test_manifest_fields(loaded: LoadedModel) -> None:
    manifest = loaded.manifest
    assert manifest.classes == ("malignant", "benign")
    assert list(loaded.model.classes_) == [0, 1]
    assert manifest.positive_class == "malignant"
    assert manifest.positive_class_index == 0
    assert manifest.decision_threshold == 0.5
    assert manifest.preset == "default"
    assert manifest.model_version.endswith("Z-default")
    assert manifest.created_at.endswith("Z")
    assert manifest.model_version[:8] == manifest.created_at[:10].replace("-", "")
    assert {"python", "numpy", "scikit-learn", "joblib", "wdbc-diagnosis"} <= set(manifest.library_versions)
    assert manifest.hyperparameters["params"]["random_state"] == 0
    json.dumps(manifest.hyperparameters)
    heldout = manifest.metrics["heldout"]
    assert heldout["n_rows"] == 114
    assert sum(map(sum, heldout["confusion_matrix"]["matrix"])) == 114
    assert heldout["confusion_matrix"]["labels"] == ["malignant", "benign"]
    assert 0.9 < heldout["accuracy"] <= 1.0
    assert "cv" not in manifest.metrics


def test_training_data_fingerprint_is_recomputable(loaded: LoadedModel) -> None:
    X_train, y_train = _training_rows()
    expected = hashlib.sha256(
        np.ascontiguousarray(X_train, dtype="<f8").tobytes() + np.ascontiguousarray(y_train, dtype="<i8").tobytes()
    ).hexdigest()
    fingerprint = loaded.manifest.training_data
    assert fingerprint["sha256"] == expected
    assert fingerprint["n_rows"] == 455
    assert fingerprint["n_features"] == 30
    assert fingerprint["split_seed"] == 0


def test_scaler_is_fitted_on_the_training_rows_only(loaded: LoadedModel) -> None:
    X_train, _ = _training_rows()
    assert np.allclose(loaded.scaler.mean_, X_train.mean(axis=0), rtol=1e-12, atol=0)
    assert not np.allclose(loaded.scaler.mean_, load_breast_cancer().data.mean(axis=0), rtol=1e-6, atol=0)
    assert loaded.scaler.n_samples_seen_ == 455


def test_report_has_its_tables(loaded: LoadedModel) -> None:
    text = (loaded.directory / "report.md").read_text()
    assert text.startswith(f"# Model {loaded.manifest.model_version}")
    assert "## Quality target" in text
    assert "| accuracy | >= 0.977 |" in text
    assert "| LogisticRegression (reference) | 0.9772 | 0.9947 | 0.076 | 0.0195 |" in text
    assert "issue" not in text.lower()
    assert "| true malignant |" in text
    assert "malignant" in text.split("Classification report:")[1]
    assert "Skipped (`--cv-repeats 0`)" in text


def test_plots_are_written_and_hashed_when_matplotlib_is_available(loaded: LoadedModel) -> None:
    pytest.importorskip("matplotlib")
    assert "roc_heldout.png" in loaded.manifest.artifacts
    assert (loaded.directory / "roc_heldout.png").read_bytes().startswith(b"\x89PNG")
    assert "![roc_heldout.png](roc_heldout.png)" in (loaded.directory / "report.md").read_text()


def test_refuses_a_non_model_directory_with_exit_1_and_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "precious.txt").write_text("keep me")
    code = cli.main(["--cv-repeats", "0", "--output-dir", str(tmp_path), "-q"])
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("wdbc-train: error: ")
    assert err.count("\n") == 1
    assert (tmp_path / "precious.txt").read_text() == "keep me"


@pytest.mark.parametrize(
    "argv",
    [
        ["--preset", "no-such-preset"],
        ["--cv-repeats", "-1"],
        ["--seed", "x"],
        ["--seed", "-1"],
        ["--seed", str(2**32)],
        ["--output-dir", "a", "--models-root", "b"],
        ["--target-sensitivity", "1"],
        ["--target-sensitivity", "0"],
        ["--target-sensitivity", "high"],
    ],
)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code == 2
    assert "error:" in capsys.readouterr().err


def test_without_matplotlib_the_plots_are_skipped_cleanly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from training import pipeline, report

    monkeypatch.setattr(report, "matplotlib_available", lambda: False)
    manifest = pipeline.train_model_dir(tmp_path / "model")
    assert not any(name.endswith(".png") for name in manifest.artifacts)
    assert not list((tmp_path / "model").glob("*.png"))
    text = (tmp_path / "model" / "report.md").read_text()
    assert "## Plots" not in text
    assert "## Quality target" in text


def test_model_card_is_written_as_json_and_markdown_and_hashed(loaded: LoadedModel) -> None:
    manifest = loaded.manifest
    card = json.loads((loaded.directory / "model_card.json").read_bytes())
    assert set(card) == {
        "model",
        "intended_use",
        "data",
        "preprocessing",
        "metrics",
        "decision_threshold",
        "calibration",
        "limitations",
        "explanations",
        "out_of_distribution",
    }
    assert card["model"]["version"] == manifest.model_version
    assert card["model"]["architecture"] == "mean of 10 30-32-1 tanh networks"
    assert "Not a diagnosis" in card["intended_use"]["primary"]
    assert card["data"]["records"] == 569
    assert card["decision_threshold"]["value"] == manifest.decision_threshold
    heldout = card["metrics"]["heldout"]
    assert heldout["rows"] == 114
    assert heldout["sensitivity"]["ci_low"] <= heldout["sensitivity"]["value"] <= heldout["sensitivity"]["ci_high"]
    assert card["out_of_distribution"]["measured"] == manifest.metrics["out_of_distribution"]
    markdown = (loaded.directory / "model_card.md").read_text()
    for heading in ("## Intended use", "## Data", "## Known limits", "## Reading the out-of-distribution flag"):
        assert heading in markdown
    for name in ("model_card.json", "model_card.md", "novelty.npz"):
        data = (loaded.directory / name).read_bytes()
        assert manifest.artifacts[name] == hashlib.sha256(data).hexdigest()


def test_the_out_of_distribution_statistics_come_from_the_training_rows(loaded: LoadedModel) -> None:
    detector = load_serving_files(loaded.directory).novelty
    assert detector is not None
    X_train, _ = _training_rows()
    logs = np.log(X_train + detector.offset)
    np.testing.assert_allclose(detector.log_mean, logs.mean(axis=0))
    np.testing.assert_allclose(detector.log_scale, logs.std(axis=0))
    assert loaded.manifest.metrics["out_of_distribution"]["false_alarms"]["n"] == 114


def test_the_summary_says_what_missed_the_target_against_what(
    run: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    completed, _ = run
    assert "FAIL" not in completed.stdout
    block = completed.stdout.split("quality target, judged on the 114 held-out rows")[1]
    assert "metric    value   target    result" in block
    assert "accuracy  0." in block
    assert ">= 0.977" in block
    assert "the model is written all the same" in block
    assert "--cv-repeats 10" in block


def _no_training(monkeypatch: pytest.MonkeyPatch) -> None:
    from training import dataset

    def refuse() -> None:
        raise AssertionError("the destination must be checked before any training")

    monkeypatch.setattr(dataset, "load_dataset", refuse)


@pytest.mark.parametrize("where", ["file", "below-a-file"])
def test_an_output_dir_that_is_a_file_fails_before_training(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    _no_training(monkeypatch)
    (tmp_path / "notes.txt").write_text("keep me")
    destination = tmp_path / "notes.txt" if where == "file" else tmp_path / "notes.txt" / "model"
    assert cli.main(["--cv-repeats", "0", "--output-dir", str(destination), "-q"]) == 1
    reason = f"{tmp_path / 'notes.txt'} is a file, not a directory"
    assert capsys.readouterr().err == f"wdbc-train: error: cannot write the model directory {destination}: {reason}\n"
    assert (tmp_path / "notes.txt").read_text() == "keep me"


def test_an_unwritable_destination_is_named_without_temporary_paths(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Root may write anywhere, so the refusal is simulated where the files are created."""
    _no_training(monkeypatch)

    def denied(*args: object, prefix: str = "", dir: str = "", **kwargs: object) -> str:
        raise PermissionError(13, "Permission denied", f"{dir}/{prefix}x1y2z3")

    monkeypatch.setattr("tempfile.mkdtemp", denied)
    destination = tmp_path / "model"
    assert cli.main(["--cv-repeats", "0", "--output-dir", str(destination), "-q"]) == 1
    err = capsys.readouterr().err
    assert err == f"wdbc-train: error: cannot write the model directory {destination}: Permission denied\n"


def test_replacing_a_model_directory_is_announced_before_training(
    run: tuple[subprocess.CompletedProcess[str], Path], tmp_path: Path
) -> None:
    _, trained = run
    destination = Path(shutil.copytree(trained, tmp_path / "model"))
    previous = json.loads((destination / MANIFEST_FILE).read_text())["model_version"]
    completed = subprocess.run(
        [sys.executable, "-m", "training", "--cv-repeats", "0", "--output-dir", str(destination), "-q"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert f"{destination} holds model {previous}; it will be replaced" in completed.stderr.splitlines()[0]


def test_a_negative_seed_is_a_usage_error_without_a_traceback() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "training", "--seed", "-1"], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert completed.returncode == 2
    assert completed.stderr.splitlines()[-1] == "wdbc-train: error: argument --seed: must be >= 0, got -1"
    assert "Traceback" not in completed.stderr
