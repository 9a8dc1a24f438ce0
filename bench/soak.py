"""Soak a running bgbye server with concurrent mixed clients; report errors and memory.

Each client loops over a mix of real calls: ``POST /v1/remove`` (most), ``POST /process/local``
then ``GET`` of its result, a two-image ``POST /v1/jobs`` polled to the end, and ``GET
/healthz``. Allowed answers are the documented ones: 200/202, and 503 *with* ``Retry-After``
(backpressure when the inference queue is full). Anything else is an error. The server's RSS is
sampled from /proc throughout; ``warm_rss_kb`` is taken once a quarter of the requests are done.

    .venv/bin/python bench/soak.py                     # starts its own server (tiny model)
    .venv/bin/python bench/soak.py --clients 8 --requests 500 --model u2netp
    .venv/bin/python bench/soak.py --url http://127.0.0.1:8080 --pid 1234
"""

from __future__ import annotations

import argparse
import collections
import io
import json
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from PIL import Image


def _png(width: int, height: int, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 80, (height, width, 3), dtype=np.uint8)
    img[height // 4: 3 * height // 4, width // 4: 3 * width // 4] = (220, 170, 90)
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG")
    return buf.getvalue()


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


@dataclass
class SoakReport:
    requests: int = 0
    statuses: collections.Counter[str] = field(default_factory=collections.Counter)
    errors: list[str] = field(default_factory=list)
    backpressure_without_retry_after: int = 0
    seconds: float = 0.0
    start_rss_kb: int = 0
    warm_rss_kb: int = 0
    peak_rss_kb: int = 0
    end_rss_kb: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "statuses": dict(self.statuses), "errors": self.errors[:20]}

    def table(self) -> str:
        rows = [("requests", self.requests), ("seconds", f"{self.seconds:.1f}"),
                ("statuses", dict(self.statuses)), ("errors", len(self.errors)),
                ("RSS start MB", f"{self.start_rss_kb / 1024:.0f}"),
                ("RSS after warm-up MB", f"{self.warm_rss_kb / 1024:.0f}"),
                ("RSS peak MB", f"{self.peak_rss_kb / 1024:.0f}"),
                ("RSS end MB", f"{self.end_rss_kb / 1024:.0f}")]
        return "| metric | value |\n|---|---|\n" + "\n".join(f"| {k} | {v} |" for k, v in rows)


def soak(url: str, pid: int, *, clients: int = 4, requests_per_client: int = 100,
         size: tuple[int, int] = (320, 240)) -> SoakReport:
    report = SoakReport(start_rss_kb=rss_kb(pid))
    lock = threading.Lock()
    total = clients * requests_per_client
    images = [_png(*size, seed=i) for i in range(8)]
    stop_sampling = threading.Event()
    backoff = threading.Event()  # never set: wait() is a sleep

    def record(kind: str, r: httpx.Response, ok: tuple[int, ...]) -> None:
        with lock:
            report.requests += 1
            report.statuses[f"{kind} {r.status_code}"] += 1
            if r.status_code == 503:
                if "retry-after" not in r.headers:
                    report.backpressure_without_retry_after += 1
                backoff.wait(0.05)  # a polite client backs off (briefly: this is a soak)
            elif r.status_code not in ok:
                report.errors.append(f"{kind} {r.status_code}: {r.text[:200]}")
            if report.requests == total // 4:
                report.warm_rss_kb = rss_kb(pid)

    def client(n: int) -> None:
        with httpx.Client(base_url=url, timeout=120) as http:
            for i in range(requests_per_client):
                img = images[(n + i) % len(images)]
                pick = (n * 7 + i) % 20
                try:
                    if pick < 14:
                        r = http.post("/v1/remove", files={"image": ("a.png", img, "image/png")})
                        record("remove", r, (200,))
                    elif pick < 17:
                        r = http.post("/process/local",
                                      files={"image": ("a.png", img, "image/png")})
                        record("process", r, (200,))
                        if r.status_code == 200:
                            record("static", http.get(r.json()["after"]), (200,))
                    elif pick < 18:
                        files = [("images", (f"{k}.png", img, "image/png")) for k in range(2)]
                        r = http.post("/v1/jobs", files=files)
                        record("job", r, (202,))
                        if r.status_code == 202:
                            _wait_job(http, r.json()["id"], record)
                    else:
                        record("healthz", http.get("/healthz"), (200,))
                except httpx.HTTPError as exc:
                    with lock:
                        report.errors.append(f"transport: {type(exc).__name__}: {exc}")

    def sample() -> None:
        while not stop_sampling.wait(0.2):
            report.peak_rss_kb = max(report.peak_rss_kb, rss_kb(pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    start = time.perf_counter()
    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    report.seconds = time.perf_counter() - start
    stop_sampling.set()
    sampler.join()
    report.end_rss_kb = rss_kb(pid)
    report.peak_rss_kb = max(report.peak_rss_kb, report.end_rss_kb)
    return report


def _wait_job(http: httpx.Client, job_id: str, record: Any) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        r = http.get(f"/v1/jobs/{job_id}")
        if r.status_code != 200 or r.json()["state"] in ("done", "failed"):
            record("job-status", r, (200,))
            if r.status_code == 200:
                record("job-result", http.get(f"/v1/jobs/{job_id}/result"), (200,))
            return
        time.sleep(0.05)
    raise TimeoutError(f"job {job_id} did not finish")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="a running server (with --pid); default: start one")
    parser.add_argument("--pid", type=int)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--requests", type=int, default=150, help="per client")
    parser.add_argument("--model", default=None, help="default: a tiny test model")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.url:
        report = soak(args.url, args.pid, clients=args.clients,
                      requests_per_client=args.requests)
    else:
        root = Path(__file__).resolve().parents[1]
        sys.path.insert(0, str(root))
        from tests.model_fixtures import write_tiny_model
        from tests.reliability.procs import bgbye_env, running_server

        with tempfile.TemporaryDirectory() as tmp:
            write_tiny_model(Path(tmp) / "models")
            env = bgbye_env(Path(tmp) / "models", Path(tmp) / "storage",
                            BGBYE_QUEUE_SIZE="2", **({"BGBYE_DEFAULT_MODEL": args.model,
                                                      "BGBYE_MODEL_DIR": str(
                                                          Path.home() / ".cache/bgbye/models")}
                                                     if args.model else {}))
            with running_server(env, Path(tmp) / "server.log") as server:
                report = soak(server.url, server.proc.pid, clients=args.clients,
                              requests_per_client=args.requests)
    print(json.dumps(report.as_dict(), indent=2) if args.json else report.table())


if __name__ == "__main__":
    main()
