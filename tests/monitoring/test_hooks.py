"""PushgatewayHooks: epoch value naming, and a run that survives a dead Pushgateway."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import pytest

pytest.importorskip("kedro")

from bgbye_pipelines.hooks import PushgatewayHooks, epoch_metric_names
from tests.monitoring.services import free_port


def test_epoch_values_get_pushed_names() -> None:
    names = epoch_metric_names({
        "epoch": 3, "train_loss": 0.4, "val_loss": 0.5, "lr": 1e-3, "images_per_s": 12.5,
        "val_iou": 0.7, "val": {"mae": 0.1, "max_fbeta": 0.8}, "seconds": 64.0, "grad_norm": 2.0,
        "model": "bgbye-lite0", "nan": float("nan"), "flag": True,
    })
    assert names == {
        "epoch": 3.0, "train_loss": 0.4, "val_loss": 0.5, "learning_rate": 1e-3,
        "train_images_per_second": 12.5, "val_iou": 0.7, "val_mae": 0.1, "val_max_fbeta": 0.8,
        "train_epoch_seconds": 64.0, "train_grad_norm": 2.0,
    }


def test_metric_names_are_sanitised() -> None:
    assert epoch_metric_names({"val_S-measure": 0.9, "val": {"E measure": 0.8}}) == {
        "val_s_measure": 0.9, "val_e_measure": 0.8}


@dataclass
class EpochEvent:
    epoch: int
    train_loss: float
    val_loss: float


def test_a_dead_gateway_never_fails_the_run(caplog: pytest.LogCaptureFixture) -> None:
    hooks = PushgatewayHooks(f"http://127.0.0.1:{free_port()}", attempts=2, backoff_seconds=0)
    with caplog.at_level(logging.WARNING, logger="bgbye.monitoring"):
        hooks.before_pipeline_run({"run_id": "r1", "pipeline_names": ["model_training"]})
        hooks.on_epoch_end(EpochEvent(1, 0.5, 0.6))
        hooks.on_epoch_end(2, {"train_loss": 0.4})
        hooks.after_node_run()
        hooks.on_pipeline_error(RuntimeError("boom"))
    assert hooks.grouping == {"run": "r1", "pipeline": "model_training"}
    assert caplog.text.count("failed after 2 attempts") == 5


def test_without_url_nothing_is_pushed(monkeypatch: pytest.MonkeyPatch,
                                       caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.delenv("BGBYE_PUSHGATEWAY_URL", raising=False)
    hooks = PushgatewayHooks()
    with caplog.at_level(logging.DEBUG, logger="bgbye.monitoring"):
        hooks.before_pipeline_run({"run_id": "r1"})
        hooks.on_epoch_end(1, {"train_loss": 0.4})
        hooks.after_pipeline_run()
    assert hooks.url is None
    assert "Pushgateway" not in caplog.text
