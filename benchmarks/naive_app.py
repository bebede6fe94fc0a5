"""The second baseline: /predict as a tutorial would write it, on the same model.

A pydantic body model, FastAPI's default validation and JSON encoding, and scikit-learn's ``predict_proba``
on the pipeline. The benchmark times the same batches against it and the real service in the same run,
so the batch figures come with a ratio that the machine's noise does not move. Model directory: $MODEL_DIR.
"""

import os
from pathlib import Path

from fastapi import FastAPI
from pydantic import BaseModel
from sklearn.pipeline import make_pipeline

from neuralnet.artifacts import load_model_dir

loaded = load_model_dir(Path(os.environ["MODEL_DIR"]))
pipeline = make_pipeline(loaded.scaler, loaded.model)
classes = loaded.manifest.classes
app = FastAPI()


class Instances(BaseModel):
    instances: list[list[float]]


@app.post("/predict")
def predict(body: Instances) -> dict[str, list[dict[str, object]]]:
    probabilities = pipeline.predict_proba(body.instances)
    return {
        "predictions": [
            {"label": classes[int(row.argmax())], "probabilities": dict(zip(classes, row.tolist(), strict=True))}
            for row in probabilities
        ]
    }
