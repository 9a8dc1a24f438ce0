"""Against the real programs: Pushgateway and Prometheus processes, the real server and hook.

Each test starts what it needs on free loopback ports with temporary storage (marker
``services``); they skip only when the Debian packages are not installed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest

from bgbye import monitoring
from bgbye.settings import Settings
from tests.conftest import image_bytes
from tests.monitoring.exposition import SCRAPE_SERIES, series_names
from tests.monitoring.promql import ROOT, unknown_metrics
from tests.monitoring.services import (
    PROMETHEUS,
    PUSHGATEWAY,
    prometheus,
    pushgateway,
    wait_until,
)

pytestmark = [
    pytest.mark.services,
    pytest.mark.skipif(not (os.access(PROMETHEUS, os.X_OK) and os.access(PUSHGATEWAY, os.X_OK)),
                       reason="Debian prometheus and prometheus-pushgateway not installed"),
]

# One epoch as bgbye_pipelines.ml.events delivers it (see its docstring).
EPOCH = {"train_loss": 0.21, "val_loss": 0.25, "val_mae": 0.07, "val_iou": 0.81,
         "val_max_fbeta": 0.9, "lr": 2.4e-4, "images_per_s": 11.3, "seconds": 64.0,
         "model": "bgbye-lite0"}


def host_port(url: str) -> str:
    return url.removeprefix("http://")


def push_a_training_run(gateway: str, run: str, epochs: int = 3) -> None:
    """Drive the Kedro hook through a run, with epochs delivered by the training event API."""
    pytest.importorskip("kedro")
    from bgbye_pipelines.hooks import PushgatewayHooks
    from bgbye_pipelines.ml import events

    hooks = PushgatewayHooks(gateway, attempts=2, backoff_seconds=0.1)
    hooks.before_pipeline_run({"run_id": run, "pipeline_names": ["model_training"]})
    for epoch in range(1, epochs + 1):
        events.emit({**EPOCH, "epoch": epoch, "train_loss": 1.0 / epoch})
        hooks.after_node_run()
    hooks.after_pipeline_run()
    # The hook unsubscribed at the end: later epochs are not pushed for this run.
    events.emit({**EPOCH, "epoch": 99})


def test_hook_pushes_reach_prometheus(tmp_path: Path) -> None:
    run = f"test-{uuid.uuid4().hex[:8]}"
    with pushgateway(tmp_path) as pg, \
            prometheus(tmp_path, {"pushgateway": host_port(pg.url)}) as prom:
        push_a_training_run(pg.url, run)
        sel = f'{{job="bgbye-training", run="{run}", pipeline="model_training"}}'
        assert prom.wait_for(f"train_loss{sel}")[0]["value"][1] == "0.3333333333333333"
        assert float(prom.wait_for(f"val_loss{sel}")[0]["value"][1]) == pytest.approx(0.25)
        assert prom.value(f"epoch{sel}") == 3.0
        assert prom.value(f"learning_rate{sel}") == pytest.approx(2.4e-4)
        assert prom.value(f"train_images_per_second{sel}") == pytest.approx(11.3)
        assert prom.value(f"val_iou{sel}") == pytest.approx(0.81)
        assert prom.value(f"bgbye_pipeline_run_running{sel}") == 0.0
        assert prom.value(f"bgbye_pipeline_run_success{sel}") == 1.0
        # The repository's alert rules are loaded and evaluate without error on real data.
        rules = httpx.get(f"{prom.url}/api/v1/rules", timeout=5).json()["data"]["groups"]
        loaded = {r["name"]: r for g in rules for r in g["rules"]}
        assert "BgbyeTrainingStalled" in loaded
        wait_until(lambda: all(r.get("lastEvaluation", "").startswith("20")
                               for r in loaded_rules(prom.url)), what="rule evaluation")
        assert all(r["health"] == "ok" for r in loaded_rules(prom.url)), loaded_rules(prom.url)


def loaded_rules(url: str) -> list[dict[str, str]]:
    groups = httpx.get(f"{url}/api/v1/rules", timeout=5).json()["data"]["groups"]
    return [rule for group in groups for rule in group["rules"]]


def test_failed_run_is_reported_as_failed(tmp_path: Path) -> None:
    pytest.importorskip("kedro")
    from bgbye_pipelines.hooks import PushgatewayHooks

    with pushgateway(tmp_path) as pg, \
            prometheus(tmp_path, {"pushgateway": host_port(pg.url)}) as prom:
        hooks = PushgatewayHooks(pg.url)
        hooks.before_pipeline_run({"run_id": "failing", "pipeline_names": ["model_training"]})
        hooks.on_pipeline_error(RuntimeError("out of memory"))
        prom.wait_for('bgbye_pipeline_run_success{run="failing"} == 0')
        firing = wait_until(lambda: [a for a in alerts(prom.url)
                                     if a["labels"]["alertname"] == "BgbyeTrainingFailed"],
                            what="the BgbyeTrainingFailed alert")
        assert firing[0]["labels"]["run"] == "failing"


def alerts(url: str) -> list[dict[str, dict[str, str]]]:
    return list(httpx.get(f"{url}/api/v1/alerts", timeout=5).json()["data"]["alerts"])


def test_batch_summary_push(tmp_path: Path) -> None:
    from bgbye.batch.summary import Summary

    summary = Summary(total=5, done=4, skipped=0, failed=1, seconds=2.0)
    with pushgateway(tmp_path) as pg, \
            prometheus(tmp_path, {"pushgateway": host_port(pg.url)}) as prom:
        assert monitoring.push_batch_summary(pg.url, summary, instance="ci")
        result = prom.wait_for('bgbye_batch_images_done{job="bgbye-batch", instance="ci"}')
        assert result[0]["value"][1] == "4"
        assert prom.value('bgbye_batch_images_per_second{instance="ci"}') == 2.0


def test_scraped_request_counter_moves(tmp_path: Path, settings: Settings) -> None:
    pytest.importorskip("bgbye.server.app")
    from tests.monitoring.server import running_server

    with running_server(settings) as server, \
            prometheus(tmp_path, {"bgbye-ui": server}) as prom:
        wait_until(lambda: prom.targets_up("bgbye-ui"), what="the server to be scraped")
        query = 'sum(bgbye_http_requests_total{job="bgbye-ui", route="/v1/remove"})'
        before = prom.value(query) or 0.0
        for _ in range(3):
            resp = httpx.post(f"http://{server}/v1/remove", timeout=30,
                              files={"image": ("a.png", image_bytes(), "image/png")})
            assert resp.status_code == 200, resp.text
        after = wait_until(lambda: (v := prom.value(query) or 0.0) >= before + 3 and v,
                           what="the request counter to move by 3")
        assert after == before + 3
        assert prom.value('sum(bgbye_images_processed_total{job="bgbye-ui"})')


def test_dashboards_and_rules_use_only_exported_metrics(tmp_path: Path,
                                                        settings: Settings) -> None:
    """Every selector in monitoring/ matches a series from the real server or the real pushes."""
    pytest.importorskip("bgbye.server.app")
    from bgbye.batch.summary import Summary
    from tests.monitoring.server import running_server

    with running_server(settings) as server, pushgateway(tmp_path) as pg:
        served = httpx.get(f"http://{server}/metrics", timeout=10)
        push_a_training_run(pg.url, "names")
        monitoring.push_batch_summary(pg.url, Summary(done=1, seconds=1.0).as_metrics())
        pushed = httpx.get(f"{pg.url}/metrics", timeout=10)
    exported = series_names(served.text) | series_names(pushed.text) | SCRAPE_SERIES
    assert {"bgbye_http_requests_total", "train_loss", "val_loss"} <= exported
    assert unknown_metrics(exported) == []
    # ...and the check is not vacuous: without the pushes, the training panels are unknown.
    assert any("train_loss" in m for m in unknown_metrics(series_names(served.text)))


@pytest.mark.train
@pytest.mark.slow
def test_kedro_run_pushes_losses(tmp_path: Path) -> None:
    """The whole `kedro run --env test` with the URL set: losses per run land in Prometheus."""
    if not (ROOT / "src" / "bgbye_pipelines" / "pipelines" / "model_training").is_dir():
        pytest.skip("the model_training pipeline is not there yet")
    kedro = Path(sys.executable).with_name("kedro")
    with pushgateway(tmp_path) as pg, \
            prometheus(tmp_path, {"pushgateway": host_port(pg.url)}) as prom:
        env = {**os.environ, "BGBYE_PUSHGATEWAY_URL": pg.url, "KEDRO_DISABLE_TELEMETRY": "true"}
        # resume=false: a checkpoint left in data/ by an earlier run must not skip the epochs.
        cmd = [str(kedro), "run", "--env", "test", "--params", "model_training.resume=false"]
        proc = subprocess.run(cmd, cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=1500, check=False)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        runs = prom.wait_for('train_loss{job="bgbye-training", pipeline="__default__"}')
        assert len(runs) == 1, runs  # a fresh Pushgateway: only this run
        run = runs[0]["metric"]["run"]
        assert prom.wait_for(f'val_loss{{job="bgbye-training", run="{run}"}}')
        assert prom.value(f'bgbye_pipeline_run_success{{run="{run}"}}') == 1.0
