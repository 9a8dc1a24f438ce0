from __future__ import annotations

import pytest
from kedro.framework.project import configure_project

from bgbye_pipelines.pipeline_registry import register_pipelines


@pytest.mark.slow  # imports every pipeline, torch included
def test_default_pipeline_runs_the_data_pipelines_first_and_not_generation() -> None:
    configure_project("bgbye_pipelines")
    pipelines = register_pipelines()
    assert {"data_ingestion", "data_preprocessing", "dataset_generation"} <= set(pipelines)
    default = {n.name for n in pipelines["__default__"].nodes}
    assert {"ingest_sources", "check_ingestion", "make_model_inputs"} <= default
    assert not default & {n.name for n in pipelines["dataset_generation"].nodes}
    # data flows from ingestion into preprocessing through the catalogued raw_pairs
    assert "raw_pairs" in pipelines["data_preprocessing"].inputs()
