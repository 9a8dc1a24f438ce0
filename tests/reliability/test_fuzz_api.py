"""Schemathesis against the server's own /openapi.json, over real HTTP on loopback: every
operation, positive and negative examples; no 5xx, every status, content type, header and
body as documented."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from schemathesis.checks import negative_data_rejection, positive_data_acceptance
from schemathesis.config import SchemathesisConfig
from schemathesis.generation.modes import GenerationMode

from bgbye.settings import Settings
from tests.model_fixtures import write_tiny_model
from tests.server.live import live_server

pytestmark = pytest.mark.slow

EXAMPLES = 100
# Refusing invalid input with 413 (too many files / too large) is as right as 400/415/422; the
# default list of rejection statuses lacks it.
CONFIG = SchemathesisConfig.from_dict({"checks": {"negative_data_rejection": {
    "expected-statuses": [400, 401, 403, 404, 405, 406, 409, 413, 415, 422, 428, 429]}}})


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    root: Path = tmp_path_factory.mktemp("fuzz-api")
    write_tiny_model(root / "models")
    settings = Settings(model_dir=root / "models", extra_model_dirs=[], default_model="tiny",
                        storage_dir=root / "storage", threads=1, pushgateway_url=None,
                        max_batch_files=4, max_upload_bytes=512 * 1024,
                        upload_idle_timeout_seconds=5)
    with live_server(settings) as url:
        yield schemathesis.openapi.from_url(f"{url}/openapi.json", config=CONFIG)


# Every operation in the schema (test_fuzzing_covers_every_operation keeps this list honest).
OPERATIONS = [("POST", "/process/local"), ("POST", "/process/api"), ("POST", "/v1/remove"),
              ("POST", "/v1/jobs"), ("GET", "/v1/jobs/{job_id}"),
              ("GET", "/v1/jobs/{job_id}/result"), ("GET", "/v1/models"), ("GET", "/healthz"),
              ("GET", "/readyz"), ("GET", "/metrics"),
              # The compatible APIs (tests/server/test_compat_*), each in its own error shape.
              ("POST", "/v1.0/removebg"), ("GET", "/v1.0/account"), ("POST", "/api/remove"),
              ("GET", "/api/remove"), ("POST", "/remove-background/v1"),
              ("POST", "/v1/segment")]


# Negative (schema-invalid) requests for the operations with a body; the others take only
# unconstrained strings, which nothing can make invalid.
CASES = [(m, p, GenerationMode.POSITIVE) for m, p in OPERATIONS] + [
    (m, p, GenerationMode.NEGATIVE) for m, p in OPERATIONS if m == "POST"]


@pytest.mark.parametrize(("method", "path", "mode"), CASES)
def test_operation_conforms(api_schema: Any, method: str, path: str, mode: GenerationMode) -> None:
    operation = api_schema[path][method]
    excluded = [positive_data_acceptance]
    if path == "/v1/jobs":
        # A job takes any bytes as a file and reports a non-image per item (202, by design);
        # a "wrong type" for a file part is only other bytes on the wire.
        excluded.append(negative_data_rejection)

    @hsettings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
               suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        # Random bytes declared as binary are schema-valid yet not images: their 415 is right,
        # so "schema-valid input must be accepted" cannot hold for upload operations.
        case.call_and_validate(excluded_checks=excluded, timeout=60)

    run()


def test_fuzzing_covers_every_operation(api_schema: Any) -> None:
    documented = {(method.upper(), path) for path, item in api_schema.raw_schema["paths"].items()
                  for method in item if method in ("get", "post", "put", "patch", "delete")}
    assert documented == set(OPERATIONS)
