"""Run model_training's nodes (train, export) and optionally model_evaluation's scoring outside
the Kedro catalog, so that several short fine-tuning runs can go side by side without sharing
catalog files: each run writes only under ``--out/<name>/``.

    .venv/bin/python bench/experiments/finetune.py --name pilot-a --minutes 12 \\
        --set fit.calibrate=true --set loss.served_calibrated=false [--evaluate]

Parameters are conf/<env>'s ``model_training`` (default env shared_u2netp) with ``--set``
overrides (dotted keys, YAML values); the manifest is the env's model_input_manifest.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

import pandas as pd
import yaml


def _params(env: str) -> dict[str, Any]:
    from kedro.config import OmegaConfigLoader
    from kedro.framework.project import settings

    args = {**settings.CONFIG_LOADER_ARGS, "default_run_env": env}
    loader = OmegaConfigLoader("conf", env=env, **args)
    return loader["parameters"]


def _set(tree: dict[str, Any], dotted: str) -> None:
    key, _, value = dotted.partition("=")
    *parents, leaf = key.split(".")
    for part in parents:
        tree = tree.setdefault(part, {})
    tree[leaf] = yaml.safe_load(value)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", required=True)
    ap.add_argument("--env", default="shared_u2netp")
    ap.add_argument("--minutes", type=float, default=None)
    ap.add_argument("--set", action="append", default=[])
    ap.add_argument("--out", default="data/experiments")
    ap.add_argument("--evaluate", action="store_true")
    ap.add_argument("--manifest", default="data/05_model_input/manifest.parquet")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    from kedro.framework.project import configure_project

    configure_project("bgbye_pipelines")

    from bgbye_pipelines.pipelines.model_training.nodes import export_model, train_model

    all_params = _params(args.env)
    params = all_params["model_training"]
    out = Path(args.out) / args.name
    params.update(name=args.name, checkpoint_dir=str(out / "checkpoints"),
                  output_dir=str(out / "models"))
    if args.minutes is not None:
        params["fit"]["max_minutes"] = args.minutes
    for item in args.set:
        _set(params, item)
    manifest = pd.read_parquet(args.manifest)
    history, summary, best = train_model(manifest, params)
    out.mkdir(parents=True, exist_ok=True)
    history.to_csv(out / "history.csv", index=False)
    exported, _ = export_model(manifest, summary, best, params)
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    (out / "exported.json").write_text(json.dumps(exported, indent=2))
    print(history.to_string())
    if args.evaluate:
        from bgbye_pipelines.pipelines.model_evaluation.nodes import evaluate_models

        eval_params = dict(all_params["model_evaluation"], baselines=[])
        metrics, _ = evaluate_models(manifest, exported, eval_params)
        (out / "metrics.json").write_text(json.dumps(metrics, indent=2, default=str))
        model = metrics["models"][args.name]
        print("test MAE", {src: round(v["mae"], 5) for src, v in model["per_source"].items()},
              "overall", round(model["overall"]["mae"], 5))


if __name__ == "__main__":
    main()
