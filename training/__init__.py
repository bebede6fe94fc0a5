"""Offline training of the diagnosis network: ``python -m training`` / ``wdbc-train``.

The programmatic entry point for tests and scripts is `training.pipeline.train_model_dir`.
"""

from training.errors import TrainingError
from training.pipeline import TrainingConfig, TrainingResult, train, train_model_dir, train_versioned

__all__ = ["TrainingConfig", "TrainingError", "TrainingResult", "train", "train_model_dir", "train_versioned"]
