"""data_ingestion pipeline: obtain, verify, extract and pair every configured dataset source."""

from bgbye_pipelines.pipelines.data_ingestion.pipeline import create_pipeline

__all__ = ["create_pipeline"]
