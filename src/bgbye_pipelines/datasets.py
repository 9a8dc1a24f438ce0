"""Kedro datasets for what the training pipelines hand on: checkpoints and exported models.

``ModelDataset`` is versioned in the catalog (``versioned: true``): every export is kept under
``<filepath>/<version>/<name>.onnx`` + ``<name>.json``, so an earlier model can be loaded again
(``kedro run --load-versions trained_model:<version>``); the export node also publishes the
latest one as ``data/06_models/<name>.onnx`` where ``bgbye`` and the server find it.
"""

from __future__ import annotations

import io
from pathlib import Path, PurePosixPath
from typing import Any

from kedro.io import AbstractDataset, AbstractVersionedDataset, Version

from bgbye.atomic import atomic_write_bytes, atomic_write_text

ModelFiles = dict[str, Any]  # {"name": str, "onnx": bytes, "spec": str (ModelSpec JSON)}


class ModelDataset(AbstractVersionedDataset[ModelFiles, ModelFiles]):
    """An ONNX model and its ModelSpec, saved side by side (atomically) in one folder."""

    def __init__(self, filepath: str, version: Version | None = None,
                 metadata: dict[str, Any] | None = None):
        super().__init__(PurePosixPath(filepath), version)
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "version": self._version}

    def _save(self, data: ModelFiles) -> None:
        folder = Path(self._get_save_path())
        name = str(data["name"])
        atomic_write_bytes(folder / f"{name}.onnx", data["onnx"])
        atomic_write_text(folder / f"{name}.json", data["spec"])

    def _load(self) -> ModelFiles:
        folder = Path(self._get_load_path())
        onnx = next(iter(sorted(folder.glob("*.onnx"))), None)
        if onnx is None:
            raise FileNotFoundError(f"no .onnx model in {folder}")
        return {"name": onnx.stem, "onnx": onnx.read_bytes(),
                "spec": onnx.with_suffix(".json").read_text(encoding="utf-8")}

    def _exists(self) -> bool:
        try:
            folder = Path(self._get_load_path())
        except Exception:  # no version saved yet
            return False
        return folder.is_dir() and any(folder.glob("*.onnx"))


class TorchStateDataset(AbstractDataset[dict[str, Any], dict[str, Any]]):
    """A torch state dict (the best checkpoint's weights), written atomically."""

    def __init__(self, filepath: str, metadata: dict[str, Any] | None = None):
        self._filepath = Path(filepath)
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath)}

    def _save(self, data: dict[str, Any]) -> None:
        import torch

        buffer = io.BytesIO()
        torch.save(data, buffer)
        atomic_write_bytes(self._filepath, buffer.getvalue())

    def _load(self) -> dict[str, Any]:
        import torch

        state: dict[str, Any] = torch.load(self._filepath, map_location="cpu", weights_only=True)
        return state

    def _exists(self) -> bool:
        return self._filepath.is_file()
