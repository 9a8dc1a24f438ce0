"""data_preprocessing: raw pairs -> validated, split, resized manifest + data report."""

from __future__ import annotations

from kedro.pipeline import Pipeline, node, pipeline

from bgbye_pipelines.pipelines.data_preprocessing.nodes import (
    build_data_report,
    inspect_pairs,
    make_model_inputs,
    split_pairs,
    validate_pairs,
)


def create_pipeline(**kwargs: object) -> Pipeline:
    return pipeline(
        [
            node(
                inspect_pairs,
                inputs=["raw_pairs", "params:data_preprocessing"],
                outputs="inspected_pairs",
                name="inspect_pairs",
            ),
            node(
                validate_pairs,
                inputs=["inspected_pairs", "params:data_preprocessing"],
                outputs=["valid_pairs", "rejections"],
                name="validate_pairs",
            ),
            node(
                split_pairs,
                inputs=["valid_pairs", "params:data_preprocessing"],
                outputs="split_pairs",
                name="split_pairs",
            ),
            node(
                make_model_inputs,
                inputs=["split_pairs", "params:data_preprocessing"],
                # The copies are saved before the manifest that names them.
                outputs=["model_input_images", "model_input_masks", "model_input_manifest"],
                name="make_model_inputs",
            ),
            node(
                build_data_report,
                inputs=[
                    "model_input_manifest",
                    "rejections",
                    "ingestion_report",
                    "params:data_preprocessing",
                ],
                outputs=["data_report", "data_report_md", "data_contact_sheet"],
                name="build_data_report",
            ),
        ]
    )
