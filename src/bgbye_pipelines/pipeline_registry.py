"""Project pipelines: every package under ``pipelines/`` is found by ``find_pipelines``."""

from __future__ import annotations

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline

# `kedro run` with no --pipeline: data in, model out, model scored. dataset_generation is run on
# demand (it writes a new source that data_ingestion then picks up).
DEFAULT_SEQUENCE = ("data_ingestion", "data_preprocessing", "model_training", "model_evaluation")


def register_pipelines() -> dict[str, Pipeline]:
    pipelines = find_pipelines(raise_errors=True)  # a broken pipeline package fails loudly
    # `kedro run --pipelines X` makes Kedro import only X, so the others may be absent here.
    pipelines["__default__"] = sum((pipelines[name] for name in DEFAULT_SEQUENCE
                                    if name in pipelines), Pipeline([]))
    return pipelines
