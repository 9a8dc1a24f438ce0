"""dataset_generation: subjects (ground truth or model cut-outs) composited onto new backgrounds."""

from __future__ import annotations

from kedro.pipeline import Pipeline, node, pipeline

from bgbye_pipelines.pipelines.dataset_generation.nodes import (
    collect_subjects,
    generate_composites,
    report_composites,
    select_confident_subjects,
)


def create_pipeline(**kwargs: object) -> Pipeline:
    return pipeline(
        [
            node(
                collect_subjects,
                inputs="params:dataset_generation",
                outputs="subject_candidates",
                name="collect_subjects",
            ),
            node(
                select_confident_subjects,
                inputs=["subject_candidates", "params:dataset_generation"],
                outputs=["subjects", "subject_rejections"],
                name="select_confident_subjects",
            ),
            node(
                generate_composites,
                inputs=["subjects", "params:dataset_generation"],
                outputs="composited_source",
                name="generate_composites",
            ),
            node(
                report_composites,
                inputs=["composited_source", "subjects", "subject_rejections",
                        "params:dataset_generation"],
                outputs=["dataset_generation_report", "composited_contact_sheet"],
                name="report_composites",
            ),
        ]
    )
