"""Kedro datasets for what the pipelines hand on: image files, checkpoints, exported models.

``ImageFileDataset`` is one image written atomically with bgbye's encoder; the model-input
copies are ``ParallelPartitionedDataset``s of it and the composites an ``ImageSourceDataset``
(a whole data_ingestion source folder), both saved lazily.

``ModelDataset`` is versioned in the catalog (``versioned: true``): every export is kept under
``<filepath>/<version>/<name>.onnx`` + ``<name>.json``, so an earlier model can be loaded again
(``kedro run --load-versions trained_model:<version>``); the export node also publishes the
latest one as ``data/06_models/<name>.onnx`` where ``bgbye`` and the server find it.
"""

from __future__ import annotations

import io
import json
import logging
import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from copy import deepcopy
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import pandas as pd
from kedro.io import AbstractDataset, AbstractVersionedDataset, Version
from kedro_datasets.partitions import PartitionedDataset
from PIL import Image

from bgbye import imageio
from bgbye.atomic import atomic_write_bytes, atomic_write_text

log = logging.getLogger(__name__)

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


class ImageFileDataset(AbstractDataset[np.ndarray, np.ndarray]):
    """One image file as a uint8 array (H, W) or (H, W, 3); the format is the file's suffix.

    Unlike ``pillow.ImageDataset`` the write is atomic (a killed run leaves no half-written
    image that a rerun would take for a finished one) and uses bgbye's encoder (cv2/fpng,
    which release the GIL), so the bytes are those the runtime writes.
    """

    def __init__(self, filepath: str, metadata: dict[str, Any] | None = None):
        self._filepath = Path(filepath)
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath)}

    def save(self, data: np.ndarray) -> None:
        atomic_write_bytes(self._filepath, imageio.encode(data, self._filepath.suffix[1:]))

    def load(self) -> np.ndarray:
        with Image.open(self._filepath) as img:
            return np.asarray(img)

    def _exists(self) -> bool:
        return self._filepath.is_file()


class ParallelPartitionedDataset(PartitionedDataset):
    """``partitions.PartitionedDataset`` that saves its partitions on ``workers`` threads.

    With ``skip_existing`` a partition whose file exists is not computed again (its callable
    is never called): for content-addressed partition names, where an existing file (written
    atomically) already holds that content. Loading is ``PartitionedDataset``'s.
    """

    def __init__(self, *, workers: int = 1, skip_existing: bool = False, **kwargs: Any):
        super().__init__(**kwargs)
        self._workers = max(1, int(workers))
        self._skip_existing = skip_existing

    def save(self, data: dict[str, Any]) -> None:
        fs = self._filesystem
        if self._overwrite and fs.exists(self._normalized_path):
            fs.rm(self._normalized_path, recursive=True)
        # One listing instead of a stat per partition: a rerun over a large cache stays cheap.
        existing = (set(fs.find(self._normalized_path))
                    if self._skip_existing and fs.exists(self._normalized_path) else set())
        folder = fs._strip_protocol(self._normalized_path).rstrip(self._sep)
        todo = [(pid, value) for pid, value in sorted(data.items())
                if f"{folder}{self._sep}{pid.lstrip(self._sep)}{self._filename_suffix}"
                not in existing]

        def one(item: tuple[str, Any]) -> None:
            partition, value = self._partition_to_path(item[0]), item[1]  # validates the id
            kwargs = deepcopy(self._dataset_config)
            kwargs[self._filepath_arg] = self._join_protocol(partition)
            if callable(value) and self._save_lazily:
                value = value()
            self._dataset_type(**kwargs).save(value)

        with ThreadPoolExecutor(max_workers=self._workers) as pool:
            list(pool.map(one, todo))
        log.info("%s: %d partitions written, %d already there", self._path, len(todo),
                 len(data) - len(todo))
        self._invalidate_caches()


PairMaker = Callable[[], tuple[np.ndarray, np.ndarray, dict[str, Any]]]


class ImageSourceDataset(AbstractDataset[dict[str, Any], dict[str, Any]]):
    """A folder in data_ingestion's source layout, published whole.

    ``<path>/images/<name>.<image_format>``, ``masks/<name>.png``, ``manifest.csv`` (one row
    per pair) and ``PROVENANCE.json``. Saved from ``{"pairs": {name: callable}, "provenance":
    callable}``: each pair callable returns ``(image, mask, manifest row)`` and is called while
    saving (on ``workers`` threads, so memory stays flat); ``provenance`` gets the finished
    manifest. Everything is written into ``.<name>.building`` beside ``path`` and swapped in at
    the end, so a reader (data_ingestion) sees the previous folder or the new one, never a
    part. Loaded as ``{"path", "manifest", "provenance", "images", "masks"}`` (the image and
    mask values are load callables, like ``PartitionedDataset``'s).
    """

    def __init__(self, path: str, image_format: str = "jpg", workers: int = 1,
                 metadata: dict[str, Any] | None = None):
        self._path = Path(path)
        self._image_format = image_format
        self._workers = max(1, int(workers))
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._path), "image_format": self._image_format}

    def save(self, data: dict[str, Any]) -> None:
        out = self._path
        build = out.with_name(f".{out.name}.building")
        shutil.rmtree(build, ignore_errors=True)
        fmt = self._image_format

        def one(item: tuple[str, PairMaker]) -> dict[str, Any]:
            name, make = item
            image, mask, row = make()
            ImageFileDataset(str(build / "images" / f"{name}.{fmt}")).save(image)
            ImageFileDataset(str(build / "masks" / f"{name}.png")).save(mask)
            return {"name": name, "image": f"images/{name}.{fmt}", "mask": f"masks/{name}.png",
                    **row}

        with ThreadPoolExecutor(max_workers=self._workers) as pool:
            rows = list(pool.map(one, sorted(data["pairs"].items())))
        manifest = pd.DataFrame(rows)
        build.mkdir(parents=True, exist_ok=True)
        atomic_write_text(build / "manifest.csv", manifest.to_csv(index=False))
        provenance = data["provenance"](manifest)
        atomic_write_text(build / "PROVENANCE.json",
                          json.dumps(provenance, indent=2, default=str))
        old = out.with_name(f".{out.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        if out.exists():
            out.rename(old)
        build.rename(out)
        shutil.rmtree(old, ignore_errors=True)
        log.info("%s: %d pairs published", out, len(manifest))

    def load(self) -> dict[str, Any]:
        if not self._exists():
            raise FileNotFoundError(f"no finished source folder at {self._path}")
        manifest = pd.read_csv(self._path / "manifest.csv")
        return {
            "path": str(self._path),
            "manifest": manifest,
            "provenance": json.loads((self._path / "PROVENANCE.json").read_text("utf-8")),
            "images": {n: ImageFileDataset(str(self._path / p)).load
                       for n, p in zip(manifest["name"], manifest["image"], strict=True)},
            "masks": {n: ImageFileDataset(str(self._path / p)).load
                      for n, p in zip(manifest["name"], manifest["mask"], strict=True)},
        }

    def _exists(self) -> bool:
        return (self._path / "PROVENANCE.json").is_file()
