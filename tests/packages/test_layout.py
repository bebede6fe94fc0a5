"""Test files are named for what they test: the folder already says which package (tests/service/test_v2.py,
not tests/service/test_service_v2.py)."""

from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def test_no_test_file_name_repeats_its_folder() -> None:
    repeating = [
        str(path.relative_to(TESTS))
        for path in TESTS.rglob("test_*.py")
        if path.stem.startswith(f"test_{path.parent.name}_")
    ]
    assert repeating == []
