"""Model registry: bundled specs, the model directory and Kedro outputs, in that order of trust.

A model is addressed by name (``u2netp``) or by path (``data/06_models/mine.onnx``); either way
the result is a spec and, when the weights are on disk, the path of the ``.onnx`` file.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from bgbye.errors import ModelNotAvailableError, UnknownModelError
from bgbye.models.spec import ModelSpec
from bgbye.settings import Settings

HEURISTIC = "heuristic"


@dataclass(frozen=True)
class ModelEntry:
    spec: ModelSpec
    path: Path | None  # the .onnx file, None while not fetched
    origin: str  # bundled | model_dir | <folder>

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

    def resolve(self, name_or_path: str | None) -> ModelEntry:
        """Find a model; raise a clear error if unknown or not fetched."""
        ref = name_or_path or self.settings.default_model
        if ref.endswith(".onnx") or "/" in ref or ref.startswith("."):
            return self._from_path(Path(ref))
        entries = self.entries()
        entry = entries.get(ref)
        if entry is None:
            known = ", ".join(sorted([*entries, HEURISTIC]))
            raise UnknownModelError(f"Unknown model {ref!r}. Known models: {known}.")
        if not entry.available:
            raise ModelNotAvailableError(
                f"Model {ref!r} is not downloaded yet: run `bgbye models fetch {ref}`."
            )
        return entry

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
                "the preprocessing."
            )
        return ModelEntry(spec, path, str(path.parent))
