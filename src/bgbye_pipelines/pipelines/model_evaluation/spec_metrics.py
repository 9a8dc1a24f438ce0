"""The trained model's test scores, written into its published ModelSpec (``metrics.test``).

So ``bgbye models list``, ``/v1/models`` and anyone reading ``data/06_models/<name>.json`` see
how the model scored as served, and on which sources it was trained (in domain) or not (held
out), next to the validation numbers that export wrote.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from bgbye.errors import BgbyeError
from bgbye.models.spec import ModelSpec

log = logging.getLogger(__name__)


def trained_on(exported: dict[str, Any]) -> set[str]:
    """The sources the exported model was trained on (the in-domain ones)."""
    return {str(s) for s in exported.get("training_sources") or []}


def spec_test_metrics(metrics: dict[str, Any], exported: dict[str, Any]) -> dict[str, Any] | None:
    """``metrics.test`` of the spec: the trained model's overall and per-source scores on the
    evaluated split, each source with its in-domain flag (and the reference's MAE where the
    reference was scored). None when the trained model itself could not be scored."""
    model = next((m for m in metrics["models"].values() if m["trained"]), None)
    if model is None:
        return None
    domains, domain_set = metrics.get("domains") or {}, trained_on(exported)
    per_source = {}
    for source, scores in model["per_source"].items():
        row = {**scores, "trained_on": source in domain_set}
        if source in domains:
            row |= {"reference_mae": domains[source]["reference_mae"],
                    "change": domains[source]["change"]}
        per_source[source] = row
    return {"split": metrics["split"], "n": model["overall"]["n"],
            "reference": metrics["comparison"]["reference"],
            "overall": dict(model["overall"]), "per_source": per_source}


def publish_test_metrics(metrics: dict[str, Any], exported: dict[str, Any]) -> None:
    """Set ``metrics.test`` of the published spec (``exported["spec_path"]``), atomically,
    keeping every other field; validated as a ModelSpec on the way in and out."""
    test = spec_test_metrics(metrics, exported)
    if test is None:
        log.warning("the trained model was not scored: %s keeps no test metrics",
                    exported["spec_path"])
        return
    path = Path(exported["spec_path"])
    if not path.is_file():
        raise BgbyeError(f"the exported model's spec {path} is missing: rerun model_training",
                         code="model_not_found", http_status=404)
    spec = ModelSpec.load(path)
    # keyed by the split: scoring the val split (e.g. to choose a setting) never poses as test
    key = "test" if test["split"] == "test" else f"{test['split']}_split"
    spec.metrics = {**spec.metrics, key: test}
    ModelSpec.model_validate(spec.model_dump())
    spec.dump(path)
    log.info("test metrics of %s written to %s", spec.name, path)
