"""Property fuzzing of image decoding from mutated real and generated files (a subprocess with
RLIMIT_AS and a per-example watchdog; see fuzz_decode.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REAL_DATA
from tests.reliability.procs import ROOT

MEMORY_CAP_MB = 3072


def _fuzz(examples: int, rng_seed: int) -> dict[str, Any]:
    cmd = [sys.executable, "-W", "ignore", "-m", "tests.reliability.fuzz_decode",
           "--examples", str(examples), "--seed", str(rng_seed),
           "--max-memory-mb", str(MEMORY_CAP_MB)]
    if REAL_DATA.is_dir():
        cmd += ["--real", str(REAL_DATA)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    # A watchdog firing (a hang) or the memory cap (a crash) ends the process non-zero.
    assert proc.returncode == 0, proc.stderr[-4000:]
    report: dict[str, Any] = json.loads(proc.stdout)
    print(json.dumps(report))
    return report


def _check(report: dict[str, Any], examples: int) -> None:
    assert report["examples"] == examples
    assert report["escaped_count"] == 0, report["escaped"]
    outcomes = report["outcomes"]
    assert set(outcomes) <= {"decoded", "invalid_image", "empty_input", "image_too_large"}
    assert outcomes.get("decoded", 0) > 0 and outcomes.get("invalid_image", 0) > 0
    # Memory stays bounded: no example may grow the peak far beyond the warm-up peak.
    assert report["max_rss_kb"] < report["max_rss_kb_after_warmup"] + 300 * 1024
    assert report["max_rss_kb"] < 1024 * 1024


def test_decode_fuzz_quick() -> None:
    _check(_fuzz(300, rng_seed=1), 300)


@pytest.mark.slow
def test_decode_fuzz_long() -> None:
    _check(_fuzz(5000, rng_seed=7), 5000)


def test_real_seeds_are_used_when_present() -> None:
    """The fuzzer mutates real photographs whenever the data folder exists (CI has it)."""
    from tests.reliability.fuzz_decode import real_seeds

    if not REAL_DATA.is_dir():
        pytest.skip("../shared/data/real is absent")
    assert len(real_seeds(Path(REAL_DATA))) >= 4
