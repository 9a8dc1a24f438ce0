"""The naming rule (bgbye/naming.py) and its JavaScript mirror (server/static/naming.js)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

import bgbye
from bgbye.naming import output_names, split_name

NAMING_JS = Path(bgbye.__file__).parent / "server" / "static" / "naming.js"

# (source names in batch order, format) -> the README's rule and its edges.
CASES: list[tuple[list[str], str, list[str]]] = [
    (["a.jpg", "a.png"], "png", ["a.png", "a.png.png"]),
    (["a.png", "a.jpg"], "png", ["a.png", "a.jpg.png"]),
    (["sub/a.jpg", "a.jpg", "sub/a.webp"], "webp", ["sub/a.webp", "a.webp", "sub/a.webp.webp"]),
    (["a.jpg", "a.jpg", "a.jpg"], "png", ["a.png", "a.jpg.png", "a-2.png"]),
    (["A.jpg", "a.png"], "png", ["A.png", "a.png.png"]),  # case-insensitive file systems, zips
    (["photo.tar.gz", ".hidden", "trail.", "noext"], "jpg",
     ["photo.tar.jpg", ".hidden.jpg", "trail..jpg", "noext.jpg"]),
    (["Über.JPG", "über.png", "x/y/z.bmp"], "png", ["Über.png", "über.png.png", "x/y/z.png"]),
    (["a.png.jpg", "a.png", "a.jpg"], "png", ["a.png.png", "a.png", "a.jpg.png"]),
]


@pytest.mark.parametrize(("names", "fmt", "expected"), CASES)
def test_python_rule(names: list[str], fmt: str, expected: list[str]) -> None:
    assert output_names(names, fmt) == expected


def test_outputs_are_unique_even_when_every_fallback_is_taken() -> None:
    names = ["a.jpg", "a.jpg.jpg", "a.jpg", "a.jpg", "a-2.jpg"]
    outs = output_names(names, "jpg")
    assert len({o.lower() for o in outs}) == len(outs)


def test_split_name() -> None:
    assert split_name("a.tar.gz") == ("a.tar", ".gz")
    assert split_name(".bashrc") == (".bashrc", "")
    assert split_name("a.") == ("a.", "")


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed (make system-deps)")
def test_javascript_mirror_agrees() -> None:
    """naming.js (what the page's zip uses) gives the same names as the Python rule."""
    cases = [(names, fmt) for names, fmt, _ in CASES]
    cases.append((["a.jpg", "a.jpg.jpg", "a.jpg", "a.jpg", "a-2.jpg"], "jpg"))
    script = (
        f"const n = require({json.dumps(str(NAMING_JS))});"
        "const cases = JSON.parse(require('fs').readFileSync(0, 'utf8'));"
        "const out = cases.map(([names, fmt]) => n.outputNames(names, fmt));"
        "process.stdout.write(JSON.stringify(out));"
    )
    proc = subprocess.run(["node", "-e", script], input=json.dumps(cases), capture_output=True,
                          text=True, timeout=60, check=True)
    assert json.loads(proc.stdout) == [output_names(names, fmt) for names, fmt in cases]
