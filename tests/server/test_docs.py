"""/docs and /redoc come from files in the installed wheel: no CDN, no external URL at all."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient


@pytest.mark.parametrize(("page", "asset"), [("/docs", "swagger-ui-bundle.js"),
                                             ("/redoc", "redoc.standalone.js")])
def test_docs_pages_are_self_contained(client: TestClient, page: str, asset: str) -> None:
    html = client.get(page)
    assert html.status_code == 200
    assert re.findall(r"https?://", html.text) == []  # nothing would leave the server
    script = re.search(r'src="([^"]+)"', html.text)
    assert script is not None and script.group(1).endswith(asset)
    served = client.get(script.group(1))
    assert served.status_code == 200 and len(served.content) > 100_000
