"""data_preprocessing pipeline: validate, deduplicate, split and resize the raw pairs."""

from bgbye_pipelines.pipelines.data_preprocessing.pipeline import create_pipeline

__all__ = ["create_pipeline"]
