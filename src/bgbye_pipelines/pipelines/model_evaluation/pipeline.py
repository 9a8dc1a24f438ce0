"""model_evaluation: exported ONNX + baselines through bgbye's Remover on the test split."""

from __future__ import annotations

from kedro.pipeline import Pipeline, node, pipeline

from bgbye_pipelines.pipelines.model_evaluation.nodes import (
    evaluate_models,
    plot_training_curves,
    render_previews,
    write_report,
)


def create_pipeline(**kwargs: object) -> Pipeline:
    return pipeline([
        node(evaluate_models,
             inputs=["model_input_manifest", "exported_model", "params:model_evaluation"],
             outputs=["evaluation_metrics", "evaluation_scores"], name="evaluate_models"),
        node(render_previews,
             inputs=["model_input_manifest", "exported_model", "evaluation_scores",
                     "params:model_evaluation"],
             outputs=["qualitative_preview", "worst_cases"], name="render_previews"),
        node(plot_training_curves, inputs="training_history", outputs="training_curves",
             name="plot_training_curves"),
        node(write_report,
             inputs=["evaluation_metrics", "training_summary", "training_history",
                     "exported_model"],
             outputs="evaluation_report", name="write_evaluation_report"),
    ])
