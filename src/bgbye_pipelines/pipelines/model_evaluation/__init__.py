"""model_evaluation pipeline: score the exported ONNX model and the baselines on the test split."""

from bgbye_pipelines.pipelines.model_evaluation.pipeline import create_pipeline

__all__ = ["create_pipeline"]
