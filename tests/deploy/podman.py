"""podman as the container tests drive it: build from the local Debian base, run, wait, clean up.

The flags are the ones this kind of machine needs (docs/deployment.md): the ``runc`` runtime (crun
fails on the kernel's cgroup layout), explicit ulimits (the defaults cannot be set), the host
network, and for builds the host's CA bundle so pip inside the build trusts the package index.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.deploy.dockerfiles import DOCKER, ROOT

GLOBAL_ARGS = ["--runtime", "runc"]
LIMITS = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096"]
RUN_ARGS = [*LIMITS, "--network", "host"]
BUILD_ARGS = [*RUN_ARGS, "--format", "docker",  # docker format keeps HEALTHCHECK
              "-v", "/etc/ssl/certs:/etc/ssl/certs:ro"]
BASE_SCRIPT = ROOT / "scripts" / "container-base"


def binary() -> str:
    found = shutil.which("podman")
    if found is None:
        raise RuntimeError("podman is not installed: run `make system-deps`")
    return found


def podman(*args: str, timeout: float = 120,
           check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([binary(), *GLOBAL_ARGS, *args], capture_output=True, text=True,
                          timeout=timeout, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"podman {' '.join(args)} exited {proc.returncode}:\n"
                             f"{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    return proc


def base_image() -> str:
    """The local bookworm base (built by mmdebstrap the first time, then reused)."""
    proc = subprocess.run([str(BASE_SCRIPT)], capture_output=True, text=True, timeout=900,
                          check=False)
    if proc.returncode != 0:
        raise AssertionError(f"{BASE_SCRIPT.name} failed:\n{proc.stderr[-4000:]}")
    return proc.stdout.strip().splitlines()[-1]


def build(dockerfile: str, tag: str, base: str, context: Path = ROOT,
          timeout: float = 1800) -> float:
    """``podman build`` of ``docker/<dockerfile>`` with the layer cache; returns the seconds."""
    start = time.monotonic()
    podman("build", *BUILD_ARGS, "--build-arg", f"BASE_IMAGE={base}",
           "-f", str(DOCKER / dockerfile), "-t", tag, str(context), timeout=timeout)
    return time.monotonic() - start


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def unique(prefix: str) -> str:
    return f"{prefix}-{os.getpid()}-{time.monotonic_ns() % 10**9}"


@contextmanager
def container(image: str, *, env: dict[str, str] | None = None, options: Sequence[str] = (),
              command: Sequence[str] = ()) -> Iterator[str]:
    """A detached container of ``image``; always removed afterwards. Yields its name."""
    name = unique("bgbye-test")
    env_args = [a for k, v in (env or {}).items() for a in ("-e", f"{k}={v}")]
    podman("run", "-d", "--name", name, *RUN_ARGS, *env_args, *options, image, *command)
    try:
        yield name
    finally:
        podman("rm", "-f", "-t", "5", name, check=False)


def logs(name: str) -> str:
    proc = podman("logs", name, check=False)
    return (proc.stdout + proc.stderr)[-4000:]


def wait_for(url: str, name: str, timeout: float = 180) -> httpx.Response:
    """Poll ``url`` until it answers 200; fail early, with the logs, if the container exits."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            response = httpx.get(url, timeout=5)
            if response.status_code == 200:
                return response
        except httpx.TransportError:
            pass
        state = podman("inspect", "-f", "{{.State.Status}}", name, check=False).stdout.strip()
        if state != "running" or time.monotonic() > deadline:
            raise AssertionError(f"{url} not ready (container {state}):\n{logs(name)}")
        time.sleep(0.5)


def exec_in(name: str, *command: str) -> str:
    return podman("exec", name, *command).stdout


def chown_for_container(path: Path, uid: int = 10001) -> None:
    """Rootful podman maps ids 1:1: the image's user needs host ownership of a writable mount."""
    os.chown(path, uid, uid)
