"""model_training: model_input_manifest -> model_checkpoint -> trained_model (versioned) and
the served copy <output_dir>/<name>.onnx + .json."""

from __future__ import annotations

from kedro.pipeline import Pipeline, node, pipeline

from bgbye_pipelines.pipelines.model_training.nodes import export_model, train_model


def create_pipeline(**kwargs: object) -> Pipeline:
    return pipeline([
        node(train_model, inputs=["model_input_manifest", "params:model_training"],
             outputs=["training_history", "training_summary", "model_checkpoint"],
             name="train_model"),
        node(export_model,
             inputs=["model_input_manifest", "training_summary", "model_checkpoint",
                     "params:model_training"],
             outputs=["exported_model", "trained_model"], name="export_model"),
    ])
