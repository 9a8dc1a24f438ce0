"""Pair every image of a source root with its mask, following the source's ``Pairing`` rules.

Paths are kept as configured (relative paths stay relative to the repository root), only
normalised, so the manifest is portable between machines with the same layout.
"""

from __future__ import annotations

import glob
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from bgbye_pipelines.pipelines.data_ingestion.sources import Pairing

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"})
_GLOB_CHARS = set("*?[")


@dataclass
class PairingResult:
    pairs: list[tuple[str, str, str]] = field(default_factory=list)  # (key, image, mask|"")
    unpaired: list[str] = field(default_factory=list)  # images without a mask


def _image_files(folder: str) -> list[str]:
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if not name.startswith(".") and os.path.splitext(name)[1].lower() in IMAGE_SUFFIXES:
                found.append(os.path.join(dirpath, name))
    return found


def _image_roots(root: str, pattern: str) -> list[tuple[str, list[str]]]:
    """(image folder, its image files) for a folder name or a glob of folders/files."""
    target = os.path.join(root, pattern)
    if not _GLOB_CHARS & set(pattern):
        return [(target, _image_files(target))] if os.path.isdir(target) else []
    groups: dict[str, list[str]] = {}
    for hit in sorted(glob.glob(target, recursive=True)):
        if os.path.isdir(hit):
            groups.setdefault(hit, []).extend(_image_files(hit))
        elif os.path.splitext(hit)[1].lower() in IMAGE_SUFFIXES:
            groups.setdefault(os.path.dirname(hit), []).append(hit)
    return sorted(groups.items())


def _mask_folder(root: str, rules: Pairing, image_root: str, image_dir: str) -> str:
    assert rules.masks is not None
    if "{" in rules.masks:
        rel_dir = os.path.relpath(image_dir, root)
        return os.path.normpath(os.path.join(root, rules.masks.format(dir=rel_dir)))
    # A mirror tree: images/a/b/x.jpg -> masks/a/b/x.png
    sub = os.path.relpath(image_dir, image_root)
    return os.path.normpath(os.path.join(root, rules.masks, sub))


def pair_folder(root: str | Path, rules: Pairing) -> PairingResult:
    """Find (key, image, mask) triples; the key is the stem, widened to a path when stems clash."""
    root = os.path.normpath(str(root))
    result = PairingResult()
    candidates: list[tuple[str, str, str]] = []  # (stem, image, mask)
    for image_root, images in _image_roots(root, rules.images):
        for image in images:
            stem = os.path.splitext(os.path.basename(image))[0]
            if rules.masks is None:
                candidates.append((stem, os.path.normpath(image), ""))
                continue
            folder = _mask_folder(root, rules, image_root, os.path.dirname(image))
            for ext in rules.mask_extensions:
                mask = os.path.join(folder, f"{stem}{rules.mask_suffix}{ext}")
                if os.path.isfile(mask) and os.path.normpath(mask) != os.path.normpath(image):
                    candidates.append((stem, os.path.normpath(image), mask))
                    break
            else:
                result.unpaired.append(os.path.normpath(image))
    stems = Counter(c[0] for c in candidates)
    for stem, image, mask in candidates:
        key = stem
        if stems[stem] > 1:  # e.g. DIS-TE1/im/x.jpg and DIS-TE2/im/x.jpg
            key = os.path.splitext(os.path.relpath(image, root))[0].replace(os.sep, "/")
        result.pairs.append((key, image, mask))
    return result
