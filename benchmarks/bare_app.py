"""The baseline: a bare FastAPI endpoint that returns a constant, served exactly like the real service.

The benchmark quotes ``/predict`` as a ratio of this endpoint's throughput measured in the same run, so
that the figure says what our validation, inference and encoding cost on top of FastAPI itself.
"""

from fastapi import FastAPI

app = FastAPI()


@app.post("/predict")
async def predict() -> dict[str, str]:
    return {"label": "benign"}
