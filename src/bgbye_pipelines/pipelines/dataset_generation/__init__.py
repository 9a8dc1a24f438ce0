"""dataset_generation pipeline: derived training data by compositing subjects on new backgrounds."""

from bgbye_pipelines.pipelines.dataset_generation.pipeline import create_pipeline

__all__ = ["create_pipeline"]
