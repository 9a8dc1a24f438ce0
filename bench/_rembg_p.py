"""Baseline: what `rembg p -m u2netp IN OUT` does (sequential, PIL PNG encode), without the
rembg `cli` extra, which pins an old FastAPI and cannot sit beside bgbye's server.
Usage: python bench/_rembg_p.py IN OUT  (U2NET_HOME must hold u2netp.onnx)."""

from __future__ import annotations

import sys
from pathlib import Path

from rembg import new_session, remove


def main() -> None:
    src, dst = Path(sys.argv[1]), Path(sys.argv[2])
    dst.mkdir(parents=True, exist_ok=True)
    session = new_session("u2netp")
    for path in sorted(src.iterdir()):
        if path.suffix.lower() in {".jpg", ".jpeg", ".png"}:
            out = remove(path.read_bytes(), session=session)
            (dst / f"{path.stem}.png").write_bytes(out)


if __name__ == "__main__":
    main()
