"""data_ingestion: sources (URL, Google Drive, local path, generated) -> paired raw files."""

from __future__ import annotations

from kedro.pipeline import Pipeline, node, pipeline

from bgbye_pipelines.pipelines.data_ingestion.nodes import check_ingestion, ingest_sources


def create_pipeline(**kwargs: object) -> Pipeline:
    return pipeline(
        [
            node(
                ingest_sources,
                inputs="params:data_ingestion",
                outputs=["candidate_pairs", "ingestion_report"],
                name="ingest_sources",
            ),
            node(
                check_ingestion,
                inputs=["candidate_pairs", "ingestion_report"],
                outputs="raw_pairs",
                name="check_ingestion",
            ),
        ]
    )
