"""Real processes for fault and load tests: a ``bgbye serve`` subprocess and RSS readings."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.server.live import free_port

ROOT = Path(__file__).resolve().parents[2]


def rss_kb(pid: int) -> int:
    """Resident set size of a process, from /proc (kB)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def bgbye_env(model_dir: Path, storage_dir: Path, **extra: str) -> dict[str, str]:
    """Environment for a bgbye subprocess: the tiny model, our storage, nothing from the user."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("BGBYE_") and not k.endswith("_API_KEY")}
    env.update({
        "BGBYE_MODEL_DIR": str(model_dir),
        "BGBYE_EXTRA_MODEL_DIRS": "[]",
        "BGBYE_DEFAULT_MODEL": "tiny",
        "BGBYE_STORAGE_DIR": str(storage_dir),
        "BGBYE_THREADS": "1",
        "PYTHONPATH": str(ROOT / "src"),
        "PYTHONUNBUFFERED": "1",
        **extra,
    })
    return env


class ServerProcess:
    """``python -m bgbye serve`` on a free loopback port, its log captured to a file."""

    def __init__(self, env: dict[str, str], log_path: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self._log = log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bgbye", "serve", "--host", "127.0.0.1", "--port",
             str(self.port)], env=env, cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited {self.proc.returncode}: {self.log()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server not ready in {timeout} s: {self.log()[-2000:]}")

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill9()
        self._log.close()

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    @property
    def rss_kb(self) -> int:
        return rss_kb(self.proc.pid)


@contextmanager
def running_server(env: dict[str, str], log_path: Path) -> Iterator[ServerProcess]:
    server = ServerProcess(env, log_path)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()
