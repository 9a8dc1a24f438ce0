"""Model registry: bundled specs, the model directory and Kedro outputs, in that order of trust.

A model is addressed by name (``u2netp``), by name and class for multi-class models
(``u2net_cloth_seg:upper``) or by path (``data/06_models/mine.onnx``); either way the result is
a spec and, when the weights are on disk, the path of the ``.onnx`` file.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from bgbye.errors import ModelNotAvailableError, UnknownModelError
from bgbye.models.licence import is_accepted, parse_accepted, require_accepted
from bgbye.models.spec import ModelSpec
from bgbye.settings import Settings

HEURISTIC = "heuristic"


@dataclass(frozen=True)
class ModelEntry:
    spec: ModelSpec
    path: Path | None  # the .onnx file, None while not fetched
    origin: str  # bundled | model_dir | <folder>
    cls: str | None = None  # the class asked for, for multi-class models

    @property
    def available(self) -> bool:
        return self.path is not None and self.path.is_file()


def bundled_specs() -> dict[str, ModelSpec]:
    specs: dict[str, ModelSpec] = {}
    folder = resources.files("bgbye.models") / "specs"
    for item in sorted(folder.iterdir(), key=lambda p: p.name):
        if item.name.endswith(".json"):
            spec = ModelSpec.model_validate_json(item.read_text(encoding="utf-8"))
            specs[spec.name] = spec
    return specs


def close_matches(ref: str, names: list[str]) -> list[str]:
    """Names a mistyped ``ref`` probably meant: prefix/substring hits, then fuzzy ones."""

    def norm(s: str) -> str:
        return s.lower().replace("_", "-")

    low = norm(ref)
    by_norm = {norm(n): n for n in names}
    hits = [n for k, n in by_norm.items() if low and (k == low or k.startswith(low))]
    hits += [n for k, n in by_norm.items() if low and low in k and n not in hits]
    for k in difflib.get_close_matches(low, list(by_norm), n=4, cutoff=0.6):
        if by_norm[k] not in hits:
            hits.append(by_norm[k])
    return hits[:6]


def unknown_model_message(ref: str, names: list[str]) -> str:
    near = close_matches(ref, names)
    hint = f" Did you mean {', '.join(near)}?" if near else ""
    return f"Unknown model {ref!r}.{hint} Known models: {', '.join(sorted(names))}."


def parse_ref(ref: str) -> tuple[str, str | None]:
    """``name:class`` -> (name, class); a path or a plain name -> (ref, None)."""
    if is_path_ref(ref) or ":" not in ref:
        return ref, None
    name, _, cls = ref.partition(":")
    return name, cls or None


def is_path_ref(ref: str) -> bool:
    return ref.endswith(".onnx") or "/" in ref or "\\" in ref or ref.startswith(".")


def _scan_dir(folder: Path, origin: str) -> dict[str, ModelEntry]:
    found: dict[str, ModelEntry] = {}
    if not folder.is_dir():
        return found
    for onnx in sorted(folder.glob("*.onnx")):
        spec_path = onnx.with_suffix(".json")
        if spec_path.is_file():
            try:
                spec = ModelSpec.load(spec_path)
            except ValueError:
                continue  # an unreadable spec is reported by `models verify`, not fatal here
            found[spec.name] = ModelEntry(spec, onnx, origin)
    return found


class Registry:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.accepted = parse_accepted(settings.accept_licenses)

    def entries(self) -> dict[str, ModelEntry]:
        out: dict[str, ModelEntry] = {}
        for name, spec in bundled_specs().items():
            path = self.settings.model_dir / spec.filename
            out[name] = ModelEntry(spec, path if path.is_file() else None, "bundled")
        # Later folders never shadow a bundled model's pinned weights.
        for folder in [self.settings.model_dir, *self.settings.extra_model_dirs]:
            for name, entry in _scan_dir(Path(folder), str(folder)).items():
                if name not in out:
                    out[name] = entry
        return out

    def names(self) -> list[str]:
        return sorted(self.entries())

    def spec(self, name: str) -> ModelSpec:
        """The spec of a known model, fetched or not; unknown names list close matches."""
        entries = self.entries()
        if name not in entries:
            raise UnknownModelError(unknown_model_message(name, [*entries, HEURISTIC]))
        return entries[name].spec

    def resolve(self, name_or_path: str | None) -> ModelEntry:
        """Find a model to run; raise a clear error if unknown, not fetched or not accepted."""
        ref, cls = parse_ref(name_or_path or self.settings.default_model)
        if is_path_ref(ref):
            entry = self._from_path(Path(ref))
        else:
            entries = self.entries()
            found = entries.get(ref)
            if found is None:
                raise UnknownModelError(unknown_model_message(ref, [*entries, HEURISTIC]))
            entry = found
        require_accepted(entry.spec, self.accepted)
        if not entry.available:
            raise ModelNotAvailableError(
                f"Model {ref!r} is not downloaded yet: run `bgbye models fetch {ref}`."
            )
        if cls is not None:
            entry = ModelEntry(entry.spec, entry.path, entry.origin, cls)
        return entry

    def describe(self, name: str, entry: ModelEntry) -> dict[str, Any]:
        """The facts `bgbye models list --json` and GET /v1/models show for one model (no
        file paths: the API must not reveal the server's folders)."""
        spec = entry.spec
        return {
            "name": name,
            "task": spec.task,
            "description": spec.description,
            "license": spec.license,
            "license_source": spec.license_source,
            "non_commercial": spec.non_commercial,
            "license_accepted": is_accepted(spec, self.accepted),
            "size": spec.size_label,
            "size_bytes": spec.size_bytes,
            "input_size": spec.input.size if spec.input.resize == "fixed" else None,
            "classes": spec.output.class_names,
            "downloaded": entry.available,
            "available": entry.available,
            "url": spec.url,
            # How a trained model scored as served (model_evaluation writes it): overall and
            # per source, each source in domain (trained on) or held out.
            "test_metrics": spec.metrics.get("test"),
        }

    @staticmethod
    def _from_path(path: Path) -> ModelEntry:
        if path.suffix != ".onnx":
            path = path.with_suffix(".onnx")
        if not path.is_file():
            raise UnknownModelError(f"No model file at {path}.")
        spec_path = path.with_suffix(".json")
        if spec_path.is_file():
            spec = ModelSpec.load(spec_path)
        else:
            raise UnknownModelError(
                f"{path} has no {spec_path.name} beside it; bgbye needs the ModelSpec to know "
                "the preprocessing (`bgbye models add` writes one)."
            )
        return ModelEntry(spec, path, str(path.parent))
