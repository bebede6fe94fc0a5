"""The human-readable side of a model directory: ``report.md``, its PNG plots, and the stdout summary."""

from __future__ import annotations

import importlib.util
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
from sklearn.metrics import roc_curve

from training.calibration import Calibration
from training.evaluation import (
    ANCHORS,
    CV_SPLITS,
    FULL_PROTOCOL_REPEATS,
    LOWER_IS_BETTER,
    METRICS,
    QUALITY_TARGET,
    Comparison,
    HeldOut,
)
from training.record import RunRecord
from training.search import SearchResult
from training.threshold import FIXED_THRESHOLD, OperatingPoint, Rate, ThresholdSelection

REPORT_FILE: Final = "report.md"
LOSS_PLOT_FILE: Final = "loss_curve.png"
ROC_PLOT_FILE: Final = "roc_heldout.png"
RELIABILITY_PLOT_FILE: Final = "reliability_cv.png"

_TITLES: Final = {"accuracy": "accuracy", "roc_auc": "ROC AUC", "log_loss": "log loss", "brier_score": "Brier"}


def render_report(data: RunRecord) -> str:
    """``report.md``: its sections in order, each from the run's record, separated by a blank line."""
    sections = [
        _identity_lines(data),
        threshold_lines(data.threshold, data.positive_class),
        _quality_lines(data),
        _cross_validation_lines(data),
        calibration_lines(data.comparison.calibration, data.label)
        if data.comparison and data.comparison.calibration
        else [],
        _reference_lines(data.comparison),
        _heldout_lines(data),
        out_of_distribution_lines(data.out_of_distribution) if data.out_of_distribution else [],
        _notes_lines(data.notes),
        ["## Grid search", "", *search_lines(data.search, markdown=True)] if data.search is not None else [],
        ["## Hyperparameters", "", "```json", json.dumps(data.hyperparameters, indent=2), "```"],
        ["## Plots", "", *(f"![{name}]({name})" for name in data.plots)] if data.plots else [],
    ]
    return "\n\n".join("\n".join(section) for section in sections if section) + "\n"


def _identity_lines(data: RunRecord) -> list[str]:
    n_train, n_test = data.training_data["n_rows"], data.training_data["n_test_rows"]
    return [
        f"# Model {data.model_version}",
        "",
        f"- created: {data.created_at}",
        f"- preset: `{data.preset}`, random_state {data.seed}",
        f"- training rows: {n_train} of {n_train + n_test} (stratified split, seed "
        f"{data.training_data['split_seed']}); held out: {n_test}",
        f"- training data sha256: `{data.training_data['sha256']}`",
        f"- decision: {data.positive_class} when P({data.positive_class}) >= {data.threshold.threshold:.4f}",
    ]


def _quality_lines(data: RunRecord) -> list[str]:
    rows = [
        [
            _TITLES[metric],
            _bound(metric),
            f"{check['value']:.4f}",
            "met" if check["passed"] else "**missed**",
        ]
        for metric, check in data.target.items()
    ]
    return [
        "## Quality target",
        "",
        f"Judged on {data.target_basis}.",
        "",
        _markdown_table(["metric", "target", "value", "result"], rows),
        "",
        target_verdict(data),
    ]


def _cross_validation_lines(data: RunRecord) -> list[str]:
    lines = ["## Cross-validation on the same folds", ""]
    if data.comparison is None:
        return [*lines, "Skipped (`--cv-repeats 0`)."]
    protocol = data.comparison.protocol
    rows = [
        [
            f"**{name}**" if name == data.label else name,
            *(f"{s['mean']:.4f} ± {s['std']:.4f}" for s in scores.summary().values()),
            f"{scores.seconds:.1f} s",
        ]
        for name, scores in data.comparison.scores.items()
    ]
    return [
        *lines,
        f"{protocol['splitter']}(n_splits={protocol['n_splits']}, n_repeats={protocol['n_repeats']}, "
        f"random_state={protocol['random_state']}) over all rows: {protocol['n_folds']} folds, "
        "StandardScaler fitted inside each fold. Mean ± standard deviation over the folds.",
        "",
        _markdown_table(["model", *(_TITLES[m] for m in METRICS), "fit time (all folds)"], rows),
    ]


def _reference_lines(comparison: Comparison | None) -> list[str]:
    return [
        f"Reference cross-validation means of the peers, against which the quality target was set (same "
        f"protocol, {FULL_PROTOCOL_REPEATS} repeats), each followed by the figure measured in this run when "
        "cross-validation ran:",
        "",
        _markdown_table(
            ["model", *(_TITLES[m] for m in METRICS)],
            [*_anchor_rows(comparison), ["quality target", *_target_cells()]],
        ),
    ]


def _heldout_lines(data: RunRecord) -> list[str]:
    rows = [[f"**{data.label}**", *(f"{data.heldout.metrics[m]:.4f}" for m in METRICS)]]
    if data.comparison is not None:
        rows += [[name, *(f"{figures[m]:.4f}" for m in METRICS)] for name, figures in data.comparison.heldout.items()]
    return [
        "## Held-out rows",
        "",
        _markdown_table(["model", *(_TITLES[m] for m in METRICS)], rows),
        "",
        f"Confusion matrix of {data.label} (rows: true class, columns: predicted class):",
        "",
        _markdown_table(
            ["", *(f"predicted {label}" for label in data.heldout.labels)],
            [
                [f"true {label}", *(str(cell) for cell in row)]
                for label, row in zip(data.heldout.labels, data.heldout.confusion, strict=True)
            ],
        ),
        "",
        "Classification report:",
        "",
        "```",
        data.heldout.report_text.rstrip(),
        "```",
    ]


def _notes_lines(notes: dict[str, list[str]]) -> list[str]:
    if not notes:
        return []
    return [
        "## Notes",
        "",
        *(
            f"- {name}, fitted on the training rows: {message} (ConvergenceWarning; silenced during "
            "cross-validation and grid search)"
            for name, messages in notes.items()
            for message in messages
        ),
    ]


def threshold_lines(selection: ThresholdSelection, positive_class: str) -> list[str]:
    """The report's section on the decision threshold: how it was chosen and what it gives."""
    lines = ["## Decision threshold", ""]
    if selection.nested is None or selection.at_fixed is None or selection.chosen is None:
        return [*lines, f"{selection.threshold} ({selection.method})."]
    protocol = selection.protocol
    lines += [
        f"Chosen for a sensitivity of at least {selection.target_sensitivity} to {positive_class}: the highest "
        f"threshold that reaches it on the out-of-fold predictions of the {protocol['n_rows']} training rows "
        f"(5-fold stratified cross-validation, {protocol['n_repeats']} repeat(s); the held-out rows take no part). "
        "Nested cross-validation measures the rule on rows it was not chosen on: each outer fold's threshold "
        "comes from an inner 5-fold cross-validation of that fold's training rows alone. "
        f"Intervals: {protocol['interval']}.",
        "",
        _markdown_table(
            ["decision rule", "sensitivity", "specificity"],
            [
                [f"**{selection.threshold:.4f}** on the predictions it was chosen on", *_cells(selection.chosen)],
                ["thresholds chosen by the inner folds, on the outer test rows (nested)", *_cells(selection.nested)],
                [f"{FIXED_THRESHOLD} on the same outer test rows", *_cells(selection.at_fixed)],
            ],
        ),
        "",
        "Thresholds the outer folds chose: " + ", ".join(f"{t:.3f}" for t in selection.fold_thresholds) + ".",
    ]
    return lines


def threshold_summary(selection: ThresholdSelection) -> str:
    """One paragraph for stdout: the threshold and its nested cross-validation figures."""
    if selection.nested is None or selection.at_fixed is None:
        return f"decision threshold {selection.threshold} ({selection.method})"
    header = ["decision rule (nested CV on the training rows)", "sensitivity", "specificity"]
    rows = [
        ["thresholds chosen by the inner folds", *_cells(selection.nested)],
        [str(FIXED_THRESHOLD), *_cells(selection.at_fixed)],
    ]
    intro = f"decision threshold {selection.threshold:.4f} for sensitivity >= {selection.target_sensitivity}"
    return intro + "\n" + _text_table(header, rows)


def _cells(point: OperatingPoint) -> list[str]:
    return [_rate(point.sensitivity), _rate(point.specificity)]


def _rate(rate: Rate) -> str:
    return interval_text(rate.as_json())


def calibration_lines(calibrations: dict[str, Calibration], label: str) -> list[str]:
    """The report's calibration table: ECE and Brier over the cross-validation's out-of-fold predictions."""
    rows = [
        [
            f"**{name}**" if name == label else name,
            f"{c.ece.mean():.4f} ± {c.ece.std():.4f}",
            f"{c.brier.mean():.4f} ± {c.brier.std():.4f}",
        ]
        for name, c in calibrations.items()
    ]
    return [
        "### Calibration",
        "",
        "Expected calibration error (10 equal-width bins) and Brier score of the out-of-fold predictions, pooled "
        "over the five folds of each repeat; mean ± standard deviation over the repeats.",
        "",
        _markdown_table(["model", "ECE", "Brier"], rows),
    ]


def out_of_distribution_lines(measured: dict[str, Any]) -> list[str]:
    """The report's section on the out-of-distribution flag: false alarms and detection, with intervals."""
    alarms = measured["false_alarms"]
    rows = [[f"held-out rows flagged (goal <= {alarms['goal']:.0%})", str(alarms["n"]), interval_text(alarms)]]
    rows += [
        [f"{name} (goal >= {figures['goal']:.0%})", str(figures["n"]), interval_text(figures)]
        for name, figures in measured["detection"].items()
    ]
    return [
        "## Out-of-distribution flag",
        "",
        f"Score: {measured['method']}; flagged above 1. Records are the held-out rows and records made from them "
        "that pass validation (see training/novelty.py). Wilson 95% intervals.",
        "",
        _markdown_table(["records", "n", "flagged"], rows),
    ]


def interval_text(figures: dict[str, Any]) -> str:
    """``0.982 [0.949, 0.994]`` from a rate's ``value``, ``ci_low`` and ``ci_high``."""
    return f"{figures['value']:.3f} [{figures['ci_low']:.3f}, {figures['ci_high']:.3f}]"


def _target_cells() -> list[str]:
    return [_bound(m) for m in METRICS]


def _bound(metric: str) -> str:
    return f"{'<=' if metric in LOWER_IS_BETTER else '>='} {QUALITY_TARGET[metric]}"


def target_verdict(data: RunRecord) -> str:
    """Whether the model meets the quality target, and what a miss means (the run still succeeds)."""
    missed = [_TITLES[metric] for metric, check in data.target.items() if not check["passed"]]
    if not missed:
        return f"All {len(data.target)} targets met."
    verdict = (
        f"{len(missed)} of {len(data.target)} targets missed ({', '.join(missed)}); the model is written all the same. "
    )
    repeats = data.comparison.protocol["n_repeats"] if data.comparison is not None else 0
    if repeats < FULL_PROTOCOL_REPEATS:
        return verdict + (
            f"The target is judged on the cross-validation means of {FULL_PROTOCOL_REPEATS * CV_SPLITS} folds "
            f"(--cv-repeats {FULL_PROTOCOL_REPEATS}, the default); on {data.target_basis} a miss is only indicative."
        )
    return verdict + "Compare it with its peers above before serving it."


def _anchor_rows(comparison: Comparison | None) -> list[list[str]]:
    rows = []
    for name, anchor in ANCHORS.items():
        rows.append([f"{name} (reference)", *(f"{anchor[m]}" for m in METRICS)])
        if comparison is not None and name in comparison.scores:
            summary = comparison.scores[name].summary()
            folds = comparison.protocol["n_folds"]
            rows.append([f"{name} (this run, {folds} folds)", *(f"{summary[m]['mean']:.4f}" for m in METRICS)])
    return rows


def search_lines(search: SearchResult, *, markdown: bool, top: int = 10) -> list[str]:
    """The ranked candidates, best first, as a markdown or plain-text table."""
    header = ["rank", "params", *(_TITLES[m] for m in METRICS)]
    rows = [
        [
            str(c.rank),
            json.dumps(c.params, default=str, sort_keys=True).replace("|", "\\|" if markdown else "|"),
            *(f"{c.scores[m][0]:.4f} ± {c.scores[m][1]:.4f}" for m in METRICS),
        ]
        for c in search.candidates[:top]
    ]
    intro = (
        f"{len(search.candidates)} candidates, {search.n_splits}-fold stratified CV on the training rows, "
        f"ranked by log loss, {search.seconds:.1f} s. Best: {json.dumps(search.best_params, default=str)}"
    )
    table = _markdown_table(header, rows) if markdown else _text_table(header, rows)
    return [intro, "", table]


def summary_table(data: RunRecord) -> str:
    """Plain-text table for stdout: CV mean ± std of every compared model, then the held-out figures."""
    header = ["model", *(_TITLES[m] for m in METRICS)]
    blocks = []
    if data.comparison is not None:
        rows = [
            [name, *(f"{s['mean']:.4f} ± {s['std']:.4f}" for s in scores.summary().values())]
            for name, scores in data.comparison.scores.items()
        ]
        blocks.append(f"cross-validation ({data.comparison.protocol['n_folds']} folds)\n" + _text_table(header, rows))
    rows = [[data.label, *(f"{data.heldout.metrics[m]:.4f}" for m in METRICS)]]
    if data.comparison is not None:
        rows += [[name, *(f"{f[m]:.4f}" for m in METRICS)] for name, f in data.comparison.heldout.items()]
    blocks.append(f"held-out rows ({len(data.heldout.y_positive)})\n" + _text_table(header, rows))
    blocks.append(threshold_summary(data.threshold))
    rows = [
        [_TITLES[m], f"{c['value']:.4f}", _bound(m), "met" if c["passed"] else "missed"] for m, c in data.target.items()
    ]
    target_table = _text_table(["metric", "value", "target", "result"], rows)
    blocks.append(f"quality target, judged on {data.target_basis}\n{target_table}\n{target_verdict(data)}")
    return "\n\n".join(blocks)


def matplotlib_available() -> bool:
    return importlib.util.find_spec("matplotlib") is not None


@dataclass(frozen=True, slots=True)
class LossCurve:
    """One network's losses per epoch: the training objective, and with early stopping the validation loss
    that decided when to stop and which epoch's weights to keep (1-based ``kept_epoch``)."""

    training: list[float]
    validation: list[float] | None
    kept_epoch: int | None


def loss_curves(model: Any) -> list[LossCurve]:
    """The fitted model's loss curves, one per ensemble member (``estimators_``), for those that record them."""
    networks = [model] if getattr(model, "loss_curve_", None) is not None else getattr(model, "estimators_", [])
    curves = []
    for network in networks:
        if getattr(network, "loss_curve_", None) is None:
            continue
        scores = getattr(network, "validation_scores_", None)
        curves.append(
            LossCurve(
                training=[float(v) for v in network.loss_curve_],
                validation=None if scores is None else [-float(v) for v in scores],  # scores are minus the loss
                kept_epoch=getattr(network, "best_epoch_", None),
            )
        )
    return curves


def loss_figure(curves: Sequence[LossCurve], title: str) -> Any:
    """Training loss (solid) and validation loss (dashed, same colour) of each network, the kept epoch marked."""
    figure, axes = _figure()
    for index, curve in enumerate(curves):
        colour = f"C{index % 10}"
        first = index == 0
        axes.plot(
            range(1, len(curve.training) + 1),
            curve.training,
            color=colour,
            linewidth=1,
            label="training loss" if first else None,
        )
        if curve.validation is not None:
            axes.plot(
                range(1, len(curve.validation) + 1),
                curve.validation,
                color=colour,
                linewidth=1,
                linestyle="--",
                label="validation loss" if first else None,
            )
            if curve.kept_epoch is not None:
                axes.plot(
                    [curve.kept_epoch],
                    [curve.validation[curve.kept_epoch - 1]],
                    "o",
                    color=colour,
                    markersize=4,
                    label="kept epoch (lowest validation loss)" if first else None,
                )
    networks = f"{len(curves)} networks, one colour each" if len(curves) > 1 else "one network"
    axes.set(xlabel="epoch", ylabel="loss (log scale)", title=f"{title}\n{networks}", yscale="log")
    axes.legend()
    return figure


def plot_loss_curves(curves: Sequence[LossCurve], title: str) -> bytes:
    return _png(loss_figure(curves, title))


def roc_figure(heldout: HeldOut, positive_class: str, threshold: float, title: str) -> Any:
    """The ROC curve with the operating point: where the model's decision threshold puts it."""
    fpr, tpr, _ = roc_curve(heldout.y_positive, heldout.p_positive)
    positive = np.asarray(heldout.y_positive, dtype=bool)
    called = np.asarray(heldout.p_positive) >= threshold
    sensitivity, specificity = called[positive].mean(), (~called[~positive]).mean()
    figure, axes = _figure()
    axes.plot(fpr, tpr, label=f"AUC {heldout.metrics['roc_auc']:.4f}")
    axes.plot([0, 1], [0, 1], linestyle="--", color="grey")
    axes.plot(
        [1 - specificity],
        [sensitivity],
        "o",
        color="C3",
        clip_on=False,
        label=f"threshold {threshold:.3f}: sensitivity {sensitivity:.3f}, specificity {specificity:.3f}",
    )
    axes.set(
        xlabel="false positive rate (1 - specificity)",
        ylabel=f"true positive rate ({positive_class})",
        title=title,
        xlim=(0, 1),
        ylim=(0, 1.01),
    )
    axes.legend(loc="lower right")
    return figure


def plot_roc(heldout: HeldOut, positive_class: str, threshold: float, title: str) -> bytes:
    return _png(roc_figure(heldout, positive_class, threshold, title))


def plot_reliability(calibrations: dict[str, Calibration], label: str) -> bytes:
    """Reliability diagram: observed frequency against mean prediction per bin, one line per model."""
    figure, axes = _figure()
    axes.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect calibration")
    for name, c in calibrations.items():
        axes.plot(
            c.curve.predicted,
            c.curve.observed,
            marker="o",
            linewidth=2.5 if name == label else 1.0,
            label=f"{name} (ECE {c.ece.mean():.3f})",
        )
    axes.set(
        xlabel="mean predicted P(malignant) in the bin",
        ylabel="observed fraction malignant",
        title="reliability under cross-validation (out-of-fold)",
        xlim=(0, 1),
        ylim=(0, 1),
    )
    axes.legend(loc="upper left", fontsize="small")
    return _png(figure)


def _figure() -> tuple[Any, Any]:
    import matplotlib  # noqa: PLC0415 - optional dependency, imported only when plotting

    matplotlib.use("Agg", force=True)
    from matplotlib.figure import Figure  # noqa: PLC0415

    figure = Figure(figsize=(6, 4), dpi=100)
    return figure, figure.add_subplot()


def _png(figure: Any) -> bytes:
    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def _markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _text_table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(header, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * width for width in widths))
    lines += ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]
    return "\n".join(lines)
