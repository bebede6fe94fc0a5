"""The model card: what the model is for, what it was trained and measured on, and how to read its outputs.

Written into every model directory twice from one dictionary (file names in :mod:`neuralnet.artifacts`):
``model_card.json`` for programs and ``model_card.md`` for people; the service serves both.
"""

from __future__ import annotations

import json
from typing import Any, Final

from training.calibration import Calibration
from training.evaluation import HeldOut
from training.record import RunRecord
from training.report import interval_text
from training.threshold import FIXED_THRESHOLD, ThresholdSelection, wilson

INTENDED_USE: Final = {
    "primary": "Decision support for research: a second opinion on whether the fine-needle-aspirate measurements "
    "of a breast mass look malignant, for people who can judge the measurements themselves. Not a diagnosis.",
    "users": "Researchers and clinicians studying computer-aided cytology, who read the probability, the "
    "explanation and the out-of-distribution flag together.",
    "out_of_scope": [
        "Diagnosing or ruling out cancer for a patient, or deciding treatment, without a pathologist.",
        "Measurements not made the way the training data's were (other imaging, software or units): the "
        "out-of-distribution flag catches gross differences, not subtle ones.",
        "Screening populations: the training data hold 37 % malignant masses, far more than in screening.",
    ],
}

DATA: Final = {
    "name": "Wisconsin Diagnostic Breast Cancer (WDBC), as shipped with scikit-learn (load_breast_cancer)",
    "records": 569,
    "classes": {"malignant": 212, "benign": 357},
    "origin": "One site: University of Wisconsin Hospitals, Madison (W. H. Wolberg, W. N. Street, "
    "O. L. Mangasarian); donated November 1995.",
    "features": "30 numbers computed from a digitised image of a fine needle aspirate: the mean, standard error "
    "and worst value of ten properties of the cell nuclei (radius, texture, perimeter, area, smoothness, "
    "compactness, concavity, concave points, symmetry, fractal dimension).",
}

LIMITATIONS: Final = [
    "Small data set: 569 records, 455 for training; every figure here has the interval it is given with.",
    "No external validation: all figures come from the same single-site, 1990s data set; performance on "
    "another site's images, equipment or population is unknown.",
    "Probabilities are calibrated to the data set's prevalence (37 % malignant); at a lower prevalence the "
    "same measurements mean a lower probability of malignancy.",
    "The valid input range (0 to three times the training maximum) only rejects gross errors; a record can "
    "be valid and still unlike the training data, which the out-of-distribution flag reports.",
]

EXPLANATIONS: Final = {
    "method": "Integrated gradients of P(malignant), computed with the network's own backpropagation "
    "(Gauss-Legendre quadrature; the completeness error is checked on every record).",
    "baseline": "the training mean of every feature (the standardised origin).",
    "how_to_read": [
        "Each feature's attribution is how much it moved P(malignant) away from the baseline's probability; "
        "positive pushes towards malignant, negative towards benign.",
        "The attributions add up to P(malignant) of the record minus P(malignant) of the baseline.",
        "They describe the model, not the biology: correlated features (radius, perimeter, area) share credit, "
        "and a large attribution is not a cause.",
    ],
}

OUT_OF_DISTRIBUTION: Final = {
    "method": "Mahalanobis distance and the largest conditional residual (how far one feature is from what the "
    "other 29 predict) on standardised log features, each divided by its 99th percentile on out-of-fold "
    "training rows; the score is the larger ratio.",
    "how_to_read": [
        "A score above 1 flags the record: about 1 in 100 typical records is flagged too.",
        "A flagged record still gets its prediction, but the model was not trained on records like it: check "
        "the measurements (units, a typo, a swapped column) before reading the probability.",
        "The feature named is the one least consistent with the others: the first place to look.",
        "An unflagged record is not guaranteed to be like the training data.",
    ],
}


def architecture(model: Any) -> str:
    """``mean of 10 30-32-1 tanh networks``: layer widths from the fitted weights."""
    members = getattr(model, "estimators_", None) or [model]
    coefs = members[0].coefs_
    widths = "-".join(str(width) for width in [coefs[0].shape[0], *(w.shape[1] for w in coefs)])
    network = f"{widths} {members[0].activation} network"
    return f"mean of {len(members)} {network}s" if len(members) > 1 else f"one {network}"


def build_card(data: RunRecord) -> dict[str, Any]:
    """The card as a JSON-ready dictionary."""
    return {
        "model": {
            "version": data.model_version,
            "created_at": data.created_at,
            "preset": data.preset,
            "architecture": data.architecture,
            "output": "P(malignant); the label is malignant when it reaches the decision threshold",
        },
        "intended_use": INTENDED_USE,
        "data": {
            **DATA,
            "training_rows": data.training_data["n_rows"],
            "held_out_rows": data.training_data["n_test_rows"],
            "split": f"stratified {1 - data.training_data['test_size']:.0%}/{data.training_data['test_size']:.0%}, "
            f"seed {data.training_data['split_seed']}",
        },
        "preprocessing": [
            "Inputs are validated: all 30 features, finite, within [0, 3 x the training maximum].",
            "StandardScaler fitted on the training rows only.",
        ],
        "metrics": {"heldout": _heldout(data.heldout), "cross_validation": data.cv},
        "decision_threshold": _threshold(data.threshold),
        "calibration": None if data.calibration is None else _calibration(data.calibration),
        "limitations": LIMITATIONS,
        "explanations": EXPLANATIONS,
        "out_of_distribution": {**OUT_OF_DISTRIBUTION, "measured": data.out_of_distribution},
    }


def render_markdown(card: dict[str, Any]) -> str:
    """The card for people: the same content as the JSON, as sections and tables."""
    model, use, data = card["model"], card["intended_use"], card["data"]
    lines = [
        f"# Model card: breast-mass malignancy, {model['version']}",
        "",
        f"{model['architecture']} (preset `{model['preset']}`), trained {model['created_at']}. Output: "
        f"{model['output']}.",
        "",
        "## Intended use",
        "",
        f"**{use['primary']}**",
        "",
        f"Users: {use['users']}",
        "",
        "Out of scope:",
        "",
        *(f"- {item}" for item in use["out_of_scope"]),
        "",
        "## Data",
        "",
        f"{data['name']}: {data['records']} records ({data['classes']['malignant']} malignant, "
        f"{data['classes']['benign']} benign). {data['origin']} {data['features']} Split: {data['split']} "
        f"({data['training_rows']} training rows, {data['held_out_rows']} held out).",
        "",
        "## Preprocessing",
        "",
        *(f"- {item}" for item in card["preprocessing"]),
        "",
        "## Metrics",
        "",
        *_metric_lines(card["metrics"]),
        "",
        "## Decision threshold",
        "",
        *_threshold_lines(card["decision_threshold"]),
        "",
        "## Calibration",
        "",
    ]
    calibration = card["calibration"]
    if calibration is None:
        lines.append("Not measured: cross-validation was skipped.")
    else:
        lines.append(
            f"Expected calibration error {calibration['ece']:.4f} and Brier score {calibration['brier_score']:.4f} "
            "under cross-validation (out-of-fold predictions, 10 equal-width bins); the reliability diagram is in "
            "the report."
        )
    explanations, ood = card["explanations"], card["out_of_distribution"]
    lines += [
        "",
        "## Known limits",
        "",
        *(f"- {item}" for item in card["limitations"]),
        "",
        "## Reading the explanations",
        "",
        f"{explanations['method']} Baseline: {explanations['baseline']}",
        "",
        *(f"- {item}" for item in explanations["how_to_read"]),
        "",
        "## Reading the out-of-distribution flag",
        "",
        ood["method"],
        "",
        *(f"- {item}" for item in ood["how_to_read"]),
        "",
        "| records | n | flagged |",
        "|---|---|---|",
        f"| held-out rows (false alarms) | {ood['measured']['false_alarms']['n']} | "
        f"{interval_text(ood['measured']['false_alarms'])} |",
        *(
            f"| {name} | {figures['n']} | {interval_text(figures)} |"
            for name, figures in ood["measured"]["detection"].items()
        ),
    ]
    return "\n".join(lines) + "\n"


def render_json(card: dict[str, Any]) -> bytes:
    return (json.dumps(card, indent=2, allow_nan=False) + "\n").encode("utf-8")


def _heldout(heldout: HeldOut) -> dict[str, Any]:
    (tp, fn), (fp, tn) = heldout.confusion  # rows: true positive class first
    n = tp + fn + fp + tn
    return {
        "rows": n,
        "accuracy": wilson(tp + tn, n).as_json(),
        "sensitivity": wilson(tp, tp + fn).as_json(),
        "specificity": wilson(tn, tn + fp).as_json(),
        "roc_auc": heldout.metrics["roc_auc"],
        "brier_score": heldout.metrics["brier_score"],
        "interval": "Wilson score, 95%",
    }


def _threshold(selection: ThresholdSelection) -> dict[str, Any]:
    figures = selection.as_json()
    if selection.target_sensitivity is None:
        why = f"{selection.method[0].upper()}{selection.method[1:]}."
    else:
        why = (
            "A missed malignancy costs far more than a false alarm, so the threshold is the highest one that still "
            f"catches {selection.target_sensitivity:.0%} of malignant masses in out-of-fold predictions of the "
            "training rows; nested cross-validation measures it on rows it was not chosen on."
        )
    return {
        "value": selection.threshold,
        "target_sensitivity": selection.target_sensitivity,
        "why": why,
        "nested_cv": figures["nested_cv"],
        f"nested_cv_at_{FIXED_THRESHOLD}": figures[f"nested_cv_at_{FIXED_THRESHOLD}"],
    }


def _calibration(calibration: Calibration) -> dict[str, Any]:
    return {"ece": float(calibration.ece.mean()), "brier_score": float(calibration.brier.mean())}


def _metric_lines(metrics: dict[str, Any]) -> list[str]:
    heldout = metrics["heldout"]
    lines = [
        f"Held-out rows ({heldout['rows']}, at the decision threshold; {heldout['interval']} intervals): accuracy "
        f"{interval_text(heldout['accuracy'])}, sensitivity {interval_text(heldout['sensitivity'])}, "
        f"specificity {interval_text(heldout['specificity'])}, ROC AUC {heldout['roc_auc']:.4f}, "
        f"Brier {heldout['brier_score']:.4f}.",
    ]
    cv = metrics["cross_validation"]
    if cv is None:
        lines += ["", "Cross-validation: skipped."]
    else:
        lines += [
            "",
            "Cross-validation (all rows, mean ± standard deviation over the folds, at 0.5): "
            + ", ".join(f"{name.replace('_', ' ')} {s['mean']:.4f} ± {s['std']:.4f}" for name, s in cv.items())
            + ".",
        ]
    return lines


def _threshold_lines(threshold: dict[str, Any]) -> list[str]:
    lines = [f"**{threshold['value']:.4f}**. {threshold['why']}"]
    nested, fixed = threshold["nested_cv"], threshold[f"nested_cv_at_{FIXED_THRESHOLD}"]
    if nested is not None and fixed is not None:
        lines += [
            "",
            "| rule (nested cross-validation, training rows) | sensitivity | specificity |",
            "|---|---|---|",
            *(
                f"| {rule} | {interval_text(point['sensitivity'])} | {interval_text(point['specificity'])} |"
                for rule, point in (("threshold chosen for the target", nested), (str(FIXED_THRESHOLD), fixed))
            ),
        ]
    return lines
