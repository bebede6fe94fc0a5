"""The docs speak about the product to its users, and each figure lives in one table.

No development history or notes about the machine the docs were written on (they mean nothing to a reader, and
go stale); figures in one table per topic with the command and the date, which the READMEs link to rather than
repeat (a copy disagrees with its source after the next run); links that lead somewhere.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from training.pipeline import train_model_dir

REPO = Path(__file__).resolve().parents[2]
DOCUMENTS = sorted(
    path
    for path in REPO.glob("**/*.md")
    if not {".venv", "vendor", ".pytest_cache", "node_modules"} & set(path.relative_to(REPO).parts)
)

DIARY = re.compile(
    r"\bVMs?\b|\bslow day\b|\bload average\b|\bshared (with|by) other\b|\bshared \d+-core\b|\b\d+ shared cores\b"
    r"|\b(this|the|a) (loaded|idle|busy|shared|build) (machine|host)\b|\bthis (machine|host|box)\b"
    r"|\bsessions?\b|\bthe issue\b|\bissue #?\d+|\bhelpers?\b|\bwho asked\b"
    r"|\bhere, (where|on)\b|\btoday\b|\bused to\b|\bwe changed\b|\bno longer\b|\bnot yet\b|\bnot tried here\b"
    r"|\bthe code before\b|\bbefore (the|its) \w+ (was|were) added\b|\b(was|were) added\b|\bwhere these files were\b",
    flags=re.IGNORECASE,
)
"""Development history and notes about the build machine."""


def diary(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if DIARY.search(line)]


@pytest.mark.parametrize(
    "planted",
    [
        "Two runs on this 2-core VM on a slow day.",
        "Measured at a load average of 15 on 2 cores.",
        "2 cores shared with other test runs the whole time.",
        "on a shared 2-core machine",
        "where the issue measured 23 ms",
        "`BASE_IMAGE=localbase/python:3.11-bookworm` here, where no registry is reachable",
        "a copy of the arrays that the service used to read",
        "ready in 1.2 s before the protocols were added",
        "figures that disagree with what `make bench` prints today",
        "on the loaded machine",
        "Not tried here.",
    ],
)
def test_a_planted_diary_phrase_is_caught(planted: str) -> None:
    assert diary(f"Some text.\n{planted}\nMore text.") == [planted]


@pytest.mark.parametrize(
    "sentence",
    [
        "What `latest` points at now, if it is not what is served already.",
        "How the shipped recipe was chosen.",
        "Every side is measured in the same run: compare the ratios from one machine to another.",
        "an empty, writable directory shared by the workers",
    ],
)
def test_a_sentence_about_the_product_is_not_mistaken_for_a_diary(sentence: str) -> None:
    assert diary(sentence) == []


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: path.relative_to(REPO).as_posix())
def test_the_docs_speak_about_the_product(document: Path) -> None:
    assert diary(document.read_text()) == []


@pytest.mark.slow
def test_the_files_written_for_people_speak_about_the_product(tmp_path: Path) -> None:
    """The report and the model card a training run writes beside the model."""
    model = tmp_path / "model"
    train_model_dir(model, preset="default", random_state=0, cv_repeats=1)
    notes = {name: diary((model / name).read_text()) for name in ("report.md", "model_card.md", "model_card.json")}
    assert {name: lines for name, lines in notes.items() if lines} == {}


FIGURE_TABLES = (
    "benchmarks/README.md",
    "docs/training.md",
    "docs/decision-support.md",
    "docs/hardening.md",
    "deploy/kubernetes/README.md",
)
"""The documents that hold the measured figures, each in tables beside the command and the date."""
QUOTERS = ("README.md", "service/README.md", "ARCHITECTURE.md", "models/README.md", "deploy/README.md")
"""Documents that link to those tables and must not copy their figures."""
CONDITIONS = {"1,000", "10,000", "0.98", "1.5", "2.0", "3.0"}
"""Numbers in the tables that are conditions or targets (batch sizes, the sensitivity target), not measurements."""
FIGURE = re.compile(r"(?<![\w.,])(\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+\.\d+)(?!\d|[.,]\d)")


def prose(text: str) -> str:
    """The text without its fenced blocks (examples of requests and answers, not figures)."""
    return re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)


def table_figures(text: str) -> set[str]:
    """Numbers with a decimal point or thousands separator, of two significant digits or more, in table rows."""
    rows = (line for line in prose(text).splitlines() if line.startswith("|"))
    found = {number for row in rows for number in FIGURE.findall(row)}
    return {n for n in found if len(n.replace(",", "").replace(".", "").lstrip("0")) >= 2} - CONDITIONS


def copied_figures(source: str, quoter: str) -> list[str]:
    return sorted(table_figures(source) & set(FIGURE.findall(prose(quoter))))


@pytest.mark.parametrize("quoter", QUOTERS)
def test_figures_live_in_their_table_and_are_linked_not_copied(quoter: str) -> None:
    text = (REPO / quoter).read_text()
    copies = {source: copied_figures((REPO / source).read_text(), text) for source in FIGURE_TABLES}
    assert {source: found for source, found in copies.items() if found} == {}


def test_a_copied_figure_is_caught() -> None:
    benchmarks = (REPO / "benchmarks" / "README.md").read_text()
    readme = (REPO / "README.md").read_text()
    ratio = sorted(table_figures(benchmarks))[0]
    assert copied_figures(benchmarks, readme + f"\nOne record at {ratio}x the bare endpoint.\n") == [ratio]


@pytest.mark.parametrize("source", FIGURE_TABLES)
def test_figure_tables_name_their_command_and_date(source: str) -> None:
    text = prose((REPO / source).read_text())
    assert re.search(r"\b20\d\d-\d\d-\d\d\b", text), "the date of the run"
    assert re.search(r"`(make [a-z-]+|\.venv/bin/python [^`]+|python [^`]+)`", text), "the command"


def anchors(document: Path) -> set[str]:
    """GitHub's anchors of a document's headings: lower case, punctuation dropped, spaces as hyphens."""
    headings = re.findall(r"^#+ (.+)$", prose(document.read_text()), flags=re.M)
    return {re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-") for heading in headings}


def test_every_relative_link_leads_to_a_file_and_heading() -> None:
    broken = []
    for document in DOCUMENTS:
        for target in re.findall(r"\]\(([^)\s]+)\)", prose(document.read_text())):
            if re.match(r"[a-z]+:", target):
                continue
            path, _, anchor = target.partition("#")
            linked = (document.parent / path).resolve() if path else document
            if not linked.exists() or (anchor and linked.is_file() and anchor not in anchors(linked)):
                broken.append(f"{document.relative_to(REPO)}: {target}")
    assert broken == []
