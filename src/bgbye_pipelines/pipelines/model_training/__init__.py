"""model_training pipeline: train a segmentation model on the manifest, export it to ONNX."""

from bgbye_pipelines.pipelines.model_training.pipeline import create_pipeline

__all__ = ["create_pipeline"]
