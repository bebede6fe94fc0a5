"""--search / --search-file: grid parsing, the search on the training rows, and clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from neuralnet.artifacts import load_model_dir
from training import cli
from training.errors import TrainingError
from training.search import parse_grid, read_grid

# random_state is a parameter of every preset, so this grid stays valid whatever network "default" is.
TINY_GRID = {"random_state": [3, 4]}


def test_parse_grid_accepts_an_object_or_a_list_and_makes_inner_lists_tuples() -> None:
    assert parse_grid('{"hidden_layer_sizes": [[8], [16, 4]], "solver": ["adam"]}') == [
        {"hidden_layer_sizes": [(8,), (16, 4)], "solver": ["adam"]}
    ]
    assert parse_grid('[{"a": [1]}, {"b": [2, 3]}]') == [{"a": [1]}, {"b": [2, 3]}]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"alpha": [0.1', "not valid JSON"),
        ("[]", "empty"),
        ("{}", "JSON object"),
        ('["alpha"]', "JSON object"),
        ('{"alpha": 0.1}', "non-empty JSON list"),
        ('{"alpha": []}', "non-empty JSON list"),
    ],
)
def test_parse_grid_rejects_malformed_grids(text: str, message: str) -> None:
    with pytest.raises(TrainingError, match=message):
        parse_grid(text)


def test_read_grid_from_a_missing_file_is_a_training_error(tmp_path: Path) -> None:
    with pytest.raises(TrainingError, match="cannot read the grid file"):
        read_grid(f"@{tmp_path / 'absent.json'}")


def _search_and_check(argv: list[str], destination: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([*argv, "--cv-repeats", "0", "--output-dir", str(destination), "-q"]) == 0
    out = capsys.readouterr().out
    assert "grid search (best first)" in out
    assert "2 candidates" in out
    manifest = load_model_dir(destination).manifest
    search = manifest.metrics["search"]
    assert search["n_candidates"] == 2
    assert [row["rank"] for row in search["ranked"]] == [1, 2]
    losses = [row["log_loss"]["mean"] for row in search["ranked"]]
    assert losses == sorted(losses)
    assert search["best_params"] == search["ranked"][0]["params"]
    assert manifest.hyperparameters["params"]["random_state"] == search["best_params"]["random_state"]
    assert search["best_params"]["random_state"] in TINY_GRID["random_state"]
    assert "## Grid search" in (destination / "report.md").read_text()


def test_search_with_a_grid_on_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _search_and_check(["--search", json.dumps(TINY_GRID)], tmp_path / "inline", capsys)


def test_search_with_a_grid_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    grid_file = tmp_path / "grid.json"
    grid_file.write_text(json.dumps(TINY_GRID))
    _search_and_check(["--search-file", str(grid_file)], tmp_path / "file", capsys)


def test_at_file_reads_the_same_grid_as_inline(tmp_path: Path) -> None:
    grid_file = tmp_path / "grid.json"
    grid_file.write_text('{"hidden_layer_sizes": [[8], [16]], "alpha": [0.1]}')
    assert (
        read_grid(f"@{grid_file}")
        == read_grid(grid_file.read_text())
        == [{"hidden_layer_sizes": [(8,), (16,)], "alpha": [0.1]}]
    )


@pytest.mark.parametrize(
    ("grid", "message"),
    [
        ('{"random_state": [0', "not valid JSON"),
        ('{"no_such_parameter": [1, 2]}', "has no parameter 'no_such_parameter'"),
    ],
)
def test_bad_grid_exits_1_with_one_line(
    grid: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli.main(["--search", grid, "--cv-repeats", "0", "--output-dir", str(tmp_path / "m"), "-q"])
    err = capsys.readouterr().err
    assert code == 1
    assert message in err
    assert err.count("\n") == 1
    assert not (tmp_path / "m").exists()


def test_search_and_search_file_together_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--search", "{}", "--search-file", str(tmp_path / "g.json")])
    assert exit_info.value.code == 2


def test_resolve_grid_completes_unique_nested_names_and_rejects_unknown_ones() -> None:
    from sklearn.ensemble import BaggingClassifier
    from sklearn.linear_model import LogisticRegression

    from training.search import resolve_grid

    estimator = BaggingClassifier(LogisticRegression())
    assert resolve_grid(estimator, [{"C": [1.0, 2.0], "n_estimators": [2]}]) == [
        {"estimator__C": [1.0, 2.0], "n_estimators": [2]}
    ]
    with pytest.raises(TrainingError, match="no parameter 'solverx'"):
        resolve_grid(estimator, [{"solverx": ["adam"]}])
