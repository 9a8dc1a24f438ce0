"""Licence gate: models whose licence forbids commercial use run only once accepted.

Acceptance is by model name or licence id (``bria-rmbg`` or ``CC-BY-NC-4.0``), from
``--accept-license`` or ``BGBYE_ACCEPT_LICENSES`` (comma separated). Every result such a model
produces carries the licence in its metadata.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from bgbye.errors import LicenseNotAcceptedError
from bgbye.models.spec import ModelSpec


def parse_accepted(value: str | Iterable[str] | None) -> frozenset[str]:
    if value is None:
        return frozenset()
    items = value.split(",") if isinstance(value, str) else value
    return frozenset(i.strip().lower() for i in items if i and i.strip())


def is_accepted(spec: ModelSpec, accepted: frozenset[str]) -> bool:
    return not spec.non_commercial or bool({spec.name.lower(), spec.license.lower()} & accepted)


def require_accepted(spec: ModelSpec, accepted: frozenset[str]) -> None:
    if is_accepted(spec, accepted):
        return
    where = f", {spec.license_source}" if spec.license_source else ""
    raise LicenseNotAcceptedError(
        f"Model {spec.name!r} is licensed {spec.license} (non-commercial use only{where}): "
        f"accept it with --accept-license {spec.name} or BGBYE_ACCEPT_LICENSES={spec.name}."
    )


def licence_info(spec: ModelSpec) -> dict[str, Any]:
    """What every prediction of this model reports about its licence."""
    info: dict[str, Any] = {"license": spec.license}
    if spec.non_commercial:
        info["license_notice"] = f"{spec.license}: non-commercial use only ({spec.name})"
    return info
