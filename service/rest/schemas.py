"""The fixed response shapes of the service's own endpoints, for the OpenAPI document (the JSON is written by
hand for speed; these models describe it)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from neuralnet.artifacts import SignatureStatus


class ErrorDetailModel(BaseModel):
    loc: list[str | int] = Field(description="Path to the offending part of the request body.")
    msg: str
    type: str


class ErrorInfo(BaseModel):
    code: str = Field(description="Stable, machine-readable error code, e.g. 'invalid_input'.")
    message: str
    details: list[ErrorDetailModel]


class ErrorResponse(BaseModel):
    """The one shape of every error response."""

    error: ErrorInfo


class HealthResponse(BaseModel):
    status: Literal["ok"]
    model_loaded: bool
    model_version: str | None


class ReadyResponse(BaseModel):
    status: Literal["ready"]
    model_version: str


class FeatureInfo(BaseModel):
    name: str = Field(description="Key in the named form of a record.")
    position: int = Field(description="Index in the array form of a record.")
    dataset_name: str = Field(description="Name in scikit-learn's load_breast_cancer.")
    valid_min: float
    valid_max: float
    training_min: float
    training_max: float


class LimitsInfo(BaseModel):
    max_batch_rows: int
    max_body_bytes: int


class OutOfDistributionInfo(BaseModel):
    method: str
    thresholds: dict[str, float] = Field(description="Each statistic's value at which the score reaches 1.")
    flagged_when: str


class MetadataResponse(BaseModel):
    model_config = ConfigDict(protected_namespaces=())

    model_version: str
    created_at: str
    preset: str
    classes: list[str] = Field(description="Class names, in the order of the probabilities.")
    positive_class: str
    decision_threshold: float = Field(description="The label is the positive class when its probability reaches it.")
    threshold_selection: dict[str, Any] = Field(
        description="How the threshold was chosen (target sensitivity, method) and the sensitivity and specificity "
        "it gave under nested cross-validation, with intervals, beside those at 0.5; empty for older models."
    )
    out_of_distribution: OutOfDistributionInfo | None = Field(
        description="How every prediction's out-of-distribution score is computed; null if the model has no statistics."
    )
    model_card: str | None = Field(description="Path of the model card (JSON; add .md for markdown), if it has one.")
    features: list[FeatureInfo] = Field(description="In the order of the array form.")
    metrics: dict[str, Any] = Field(description="Training and held-out evaluation metrics.")
    artifacts: dict[str, str] = Field(description="SHA-256 of every file of the model directory.")
    library_versions: dict[str, str]
    training_data: dict[str, Any]
    signature: SignatureStatus = Field(
        description="'verified': the manifest's HMAC signature matched the service's MODEL_SIGNING_KEY; 'unsigned': "
        "no signature and no key; 'not_verified': signed, but the service has no key to check it."
    )
    limits: LimitsInfo


# The Open Inference Protocol (V2) and KServe V1, as the specifications define them -------------------------

Parameters = dict[str, str | float | bool]
TensorData = list[Any]


class ProtocolError(BaseModel):
    """The error shape of the /v2 and /v1 paths."""

    error: str


class ServerLive(BaseModel):
    live: bool


class ServerReady(BaseModel):
    ready: bool


class ModelReady(BaseModel):
    name: str
    ready: bool


class ServerMetadata(BaseModel):
    name: str
    version: str
    extensions: list[str]


class MetadataTensor(BaseModel):
    name: str
    datatype: str
    shape: list[int] = Field(description="-1 for a dimension of any size (the rows).")
    parameters: Parameters | None = None


class ModelMetadata(BaseModel):
    name: str
    versions: list[str]
    platform: str
    inputs: list[MetadataTensor]
    outputs: list[MetadataTensor]
    parameters: Parameters | None = None


class RequestInput(BaseModel):
    name: str
    shape: list[int]
    datatype: str
    parameters: Parameters | None = Field(
        default=None, description="binary_data_size: the byte count of this input's binary data after the JSON."
    )
    data: TensorData | None = Field(default=None, description="Row-major, flat or nested; absent when binary.")


class RequestOutput(BaseModel):
    name: str
    parameters: Parameters | None = Field(default=None, description="binary_data: true for this output in binary.")


class InferenceRequest(BaseModel):
    id: str | None = None
    parameters: Parameters | None = Field(
        default=None, description="binary_data_output: true for every output in binary."
    )
    inputs: list[RequestInput]
    outputs: list[RequestOutput] | None = None


class ResponseOutput(BaseModel):
    name: str
    shape: list[int]
    datatype: str
    parameters: Parameters | None = None
    data: TensorData | None = None


class InferenceResponse(BaseModel):
    model_config = ConfigDict(protected_namespaces=())

    model_name: str
    model_version: str | None = None
    id: str | None = None
    parameters: Parameters | None = None
    outputs: list[ResponseOutput]


class V1Model(BaseModel):
    name: str
    ready: bool


class V1Models(BaseModel):
    models: list[str]


class V1Live(BaseModel):
    status: Literal["alive"]
