"""Push helpers and the Kedro hook when the Pushgateway is unreachable: logged, never raised."""

from __future__ import annotations

import logging

import pytest

from bgbye import monitoring
from tests.monitoring.services import free_port


@pytest.fixture
def dead_url() -> str:
    # A loopback port nobody listens on: connections are refused at once.
    return f"http://127.0.0.1:{free_port()}"


def test_no_url_is_a_quiet_no_op() -> None:
    assert monitoring.push_metrics(None, "j", {}, {"x": 1.0}) is False
    assert monitoring.push_metrics("", "j", {}, {"x": 1.0}) is False


def test_unreachable_gateway_is_retried_then_logged(
    dead_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="bgbye.monitoring"):
        ok = monitoring.push_metrics(dead_url, "j", {"run": "r"}, {"train_loss": 0.5},
                                     attempts=3, backoff_seconds=0.01)
    assert ok is False
    retries = [r for r in caplog.records if "retrying" in r.getMessage()]
    final = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(retries) == 2
    assert len(final) == 1 and "after 3 attempts" in final[0].getMessage()


def test_invalid_metric_name_is_refused_without_raising(
    dead_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="bgbye.monitoring"):
        assert monitoring.push_metrics(dead_url, "j", {}, {"not a name": 1.0}) is False
    assert "not pushing" in caplog.text


def test_batch_summary_never_raises(dead_url: str) -> None:
    summary = {"bgbye_batch_images_done": 3, "bgbye_batch_images_failed": 0}
    assert monitoring.push_batch_summary(dead_url, summary, attempts=1) is False


def test_batch_summary_accepts_the_summary_object(
    dead_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    from bgbye.batch.summary import Summary

    with caplog.at_level(logging.WARNING, logger="bgbye.monitoring"):
        assert monitoring.push_batch_summary(dead_url, Summary(done=2, seconds=1.0),
                                             attempts=1) is False
        assert "failed after 1 attempts" in caplog.text  # got as far as the network
        caplog.clear()
        assert monitoring.push_batch_summary(dead_url, object(), attempts=1) is False
        assert "not pushing the batch summary" in caplog.text
