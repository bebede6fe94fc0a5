"""The record shapes of /predict and KServe V1, built once per model from its manifest, so that feature names,
their order and their valid ranges live only there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, Strict, TypeAdapter, create_model

from neuralnet.artifacts import Feature, Manifest

BATCH_KEY = "instances"
"""The batch form's only key (KServe v1): ``{"instances": [record, ...]}``."""
BATCH_HINT = 'wrap records in {"instances": [...]}'

_STRICT = ConfigDict(extra="forbid", strict=True)


def probability_key(positive_class: str) -> str:
    """Response key of the positive class's probability, e.g. ``probability_malignant``."""
    return "probability_" + re.sub(r"\W+", "_", positive_class).strip("_").lower()


def _feature_type(feature: Feature, alias: str | None = None) -> Any:
    return Annotated[
        float,
        Strict(),
        Field(
            alias=alias,
            ge=feature.valid_min,
            le=feature.valid_max,
            allow_inf_nan=False,
            description=(
                f"{feature.name} (valid {feature.valid_min:g} to {feature.valid_max:g}; "
                f"training range {feature.training_min:g} to {feature.training_max:g})"
            ),
        ),
    ]


@dataclass(frozen=True, slots=True)
class RequestSchemas:
    """Validators and JSON schemas of the /predict request forms and response for one manifest."""

    named_record: TypeAdapter[Any]
    dataset_record: TypeAdapter[Any]
    array_record: TypeAdapter[Any]
    named_batch: TypeAdapter[Any]
    dataset_batch: TypeAdapter[Any]
    array_batch: TypeAdapter[Any]
    prediction: TypeAdapter[Any]
    prediction_batch: TypeAdapter[Any]

    def openapi_components(self) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        """``(request body schema, 200 response schema, component schemas)`` with component refs."""
        keyed = [
            ("NamedRecord", self.named_record),
            ("DatasetRecord", self.dataset_record),
            ("ArrayRecord", self.array_record),
            ("NamedBatch", self.named_batch),
            ("DatasetBatch", self.dataset_batch),
            ("ArrayBatch", self.array_batch),
            ("Prediction", self.prediction),
            ("PredictionBatch", self.prediction_batch),
        ]
        schemas, definitions = TypeAdapter.json_schemas(
            [(key, "validation", adapter) for key, adapter in keyed],
            ref_template="#/components/schemas/{model}",
        )
        components: dict[str, Any] = dict(definitions.get("$defs", {}))
        components["ArrayRecord"] = schemas[("ArrayRecord", "validation")]
        request = {
            "anyOf": [
                {"$ref": f"#/components/schemas/{key}"}
                for key in ("NamedRecord", "DatasetRecord", "ArrayRecord", "NamedBatch", "DatasetBatch", "ArrayBatch")
            ]
        }
        response = {
            "anyOf": [{"$ref": "#/components/schemas/Prediction"}, {"$ref": "#/components/schemas/PredictionBatch"}]
        }
        return request, response, components


def _decision_support_fields(manifest: Manifest) -> dict[str, Any]:
    """The response's out-of-distribution check and optional explanation, for the OpenAPI document."""
    feature_name: Any = Literal[tuple(feature.api_name for feature in manifest.features)]
    out_of_distribution: Any = create_model(
        "OutOfDistribution",
        __doc__="How unlike the training rows the record is, from the training data's statistics.",
        score=(float, Field(ge=0, description="Above 1: the record is flagged. About 1 in 100 typical records is.")),
        flagged=(bool, Field(description="The record is unlike the training data; it is still predicted.")),
        feature=(feature_name, Field(description="The feature least consistent with the others: look there first.")),
    )
    positive = manifest.positive_class
    method: Any = Literal["integrated_gradients"]
    attribution: Any = create_model(
        "FeatureAttribution",
        feature=(feature_name, ...),
        value=(float, Field(description="The record's value.")),
        attribution=(float, Field(description=f"How much it moved P({positive}) from the baseline's.")),
        direction=(str, Field(description="The class it pushes towards, or 'none'.")),
    )
    explanation: Any = create_model(
        "Explanation",
        __doc__=f"Integrated gradients of P({positive}); the attributions add up to P(record) - P(baseline).",
        method=(method, ...),
        output=(str, Field(description="The probability explained.")),
        baseline=(str, Field(description="The record the attributions are measured from.")),
        baseline_probability=(float, Field(ge=0, le=1)),
        completeness_error=(float, Field(ge=0, description="|sum of attributions - (P(record) - P(baseline))|")),
        top_features=(list[attribution], Field(description="The largest attributions, largest first.")),
        attributions=(dict[str, float], Field(description="Every feature's attribution, by name.")),
    )
    return {
        "out_of_distribution": (
            out_of_distribution | None,
            Field(default=None, description="Present whenever the model directory holds the training statistics."),
        ),
        "explanation": (explanation | None, Field(default=None, description="Only with ?explain=true.")),
    }


def build_request_schemas(manifest: Manifest, max_batch_rows: int) -> RequestSchemas:
    features = manifest.features
    feature_fields: dict[str, Any] = {feature.api_name: (_feature_type(feature), ...) for feature in features}
    named: Any = create_model(
        "NamedRecord", __config__=_STRICT, __doc__="One record keyed by the snake_case feature names.", **feature_fields
    )
    # The data set's own names ("mean radius"), as in load_breast_cancer(as_frame=True): the same fields,
    # validated by alias only, so that one request uses one convention.
    dataset_fields: dict[str, Any] = {f.api_name: (_feature_type(f, alias=f.name), ...) for f in features}
    dataset: Any = create_model(
        "DatasetRecord",
        __config__=_STRICT,
        __doc__="One record keyed by the data set's own feature names, e.g. 'mean radius'.",
        **dataset_fields,
    )
    array_items: Any = tuple(_feature_type(feature) for feature in features)
    array_type: Any = Annotated[
        tuple[array_items],
        Field(
            title="ArrayRecord",
            description=f"One record as {len(features)} numbers in the data set's feature order (see /metadata).",
            strict=True,
        ),
    ]
    rows = Field(
        min_length=1,
        max_length=max_batch_rows,
        description=f"1 to {max_batch_rows} records, all in the same form; predicted in one pass.",
    )
    named_batch_fields: dict[str, Any] = {BATCH_KEY: (Annotated[list[named], rows], ...)}
    named_batch: Any = create_model(
        "NamedBatch", __config__=_STRICT, __doc__="A batch of named records (KServe v1).", **named_batch_fields
    )
    dataset_batch_fields: dict[str, Any] = {BATCH_KEY: (Annotated[list[dataset], rows], ...)}
    dataset_batch: Any = create_model(
        "DatasetBatch",
        __config__=_STRICT,
        __doc__="A batch of records keyed by the data set's names (KServe v1).",
        **dataset_batch_fields,
    )
    array_batch_fields: dict[str, Any] = {BATCH_KEY: (Annotated[list[array_type], rows], ...)}
    array_batch: Any = create_model(
        "ArrayBatch", __config__=_STRICT, __doc__="A batch of array records (KServe v1).", **array_batch_fields
    )
    class_fields: dict[str, Any] = {
        f"class_{index}": (Annotated[float, Field(ge=0, le=1, alias=name)], ...)
        for index, name in enumerate(manifest.classes)
    }
    class_probabilities: Any = create_model(
        "ClassProbabilities", __doc__="Probability of each class, by class name.", **class_fields
    )
    label_type: Any = Literal[manifest.classes]
    prediction_fields: dict[str, Any] = {
        "label": (label_type, Field(description="Predicted class.")),
        "positive": (
            float,
            Field(
                ge=0,
                le=1,
                alias=probability_key(manifest.positive_class),
                description=f"Probability of {manifest.positive_class}.",
            ),
        ),
        "probabilities": (class_probabilities, ...),
        **_decision_support_fields(manifest),
    }
    prediction_item: Any = create_model("BatchPrediction", **prediction_fields)
    version_field: dict[str, Any] = {"model_version": (str, Field(description="Version of the model that answered."))}
    prediction: Any = create_model("Prediction", **prediction_fields, **version_field)
    batch_fields: dict[str, Any] = {
        "predictions": (list[prediction_item], Field(description="One per record, in request order.")),
        **version_field,
    }
    prediction_batch: Any = create_model("PredictionBatch", **batch_fields)
    return RequestSchemas(
        named_record=TypeAdapter(named),
        dataset_record=TypeAdapter(dataset),
        array_record=TypeAdapter(array_type),
        named_batch=TypeAdapter(named_batch),
        dataset_batch=TypeAdapter(dataset_batch),
        array_batch=TypeAdapter(array_batch),
        prediction=TypeAdapter(prediction),
        prediction_batch=TypeAdapter(prediction_batch),
    )
