"""The provider registry: each client class declares itself once; everything else derives."""

from __future__ import annotations

from typing import Any

import pytest

from bgbye.engines import providers
from bgbye.engines.providers.base import REGISTRY, ProviderClient, ProviderRequest, Upload
from bgbye.errors import InvalidOptionError
from bgbye.settings import Settings


def test_every_client_declares_its_names_and_variables() -> None:
    reg = providers.registry()
    assert list(reg) == ["removebg", "clipdrop", "photoroom"]  # the listing order
    for name, cls in reg.items():
        assert cls.name == name and cls.display_name and cls.default_url.startswith("https://")
        assert cls.key_env.endswith("_API_KEY") and cls.url_env.startswith("BGBYE_")
    assert providers.canonical("Remove.BG") == "removebg"
    assert providers.labels()["removebg"] == "remove.bg"


def test_settings_read_the_variables_the_classes_declare(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REMOVE_BG_API_KEY", "rb-key")
    monkeypatch.setenv("BGBYE_PHOTOROOM_API_KEY", "pr-key")  # the prefixed spelling works too
    monkeypatch.setenv("BGBYE_CLIPDROP_URL", "http://127.0.0.1:9/clipdrop")
    settings = Settings(provider_keys={"clipdrop": "cd-key"})  # explicit values merge with env
    assert settings.provider_keys == {"removebg": "rb-key", "photoroom": "pr-key",
                                      "clipdrop": "cd-key"}
    assert providers.provider_config("clipdrop", settings).url == "http://127.0.0.1:9/clipdrop"
    assert providers.provider_config("remove.bg", settings).url == "https://api.remove.bg/v1.0"
    assert providers.configured("photoroom", settings)
    assert not providers.configured("removebg", Settings.defaults())


def test_a_new_provider_is_one_class(monkeypatch: pytest.MonkeyPatch) -> None:
    """Defining a client registers it: settings, parsing and labels pick it up."""
    saved = dict(REGISTRY)
    try:
        class AcmeClient(ProviderClient):
            name = "acme"
            display_name = "Acme Cutouts"
            aliases = ("acme.io",)
            key_env = "ACME_API_KEY"
            url_env = "BGBYE_ACME_URL"
            default_url = "https://api.acme.test"
            dashboard_url = "https://acme.test/keys"

            def build_request(self, upload: Upload) -> ProviderRequest:
                return ProviderRequest("/cut", {}, {"image": (upload.filename, upload.data,
                                                             upload.content_type)})

            def error_detail(self, status: int, body: Any, text: str) -> str:
                return text

        monkeypatch.setenv("ACME_API_KEY", "acme-key")
        assert Settings().provider_keys["acme"] == "acme-key"
        assert providers.engine_ref(None, "acme.io, local") == "acme,local"
        assert providers.client_class("acme") is AcmeClient
    finally:
        REGISTRY.clear()
        REGISTRY.update(saved)


@pytest.mark.parametrize(("model", "provider", "ref"), [
    (None, None, None),
    ("modnet", None, "modnet"),
    ("", " remove.bg ", "removebg"),
    (None, "removebg,local", "removebg,local"),
    (None, "photoroom,modnet", "photoroom,modnet"),
])
def test_engine_ref(model: str | None, provider: str | None, ref: str | None) -> None:
    assert providers.engine_ref(model, provider) == ref


@pytest.mark.parametrize(("model", "provider", "match"), [
    ("u2netp", "removebg", "either a model or a provider"),
    (None, "nope", "Unknown provider"),
    (None, "local", "Unknown provider"),
])
def test_engine_ref_errors(model: str | None, provider: str, match: str) -> None:
    with pytest.raises(InvalidOptionError, match=match):
        providers.engine_ref(model, provider)
