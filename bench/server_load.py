"""Server load benchmark: concurrent clients posting real photos to /v1/remove, against the CLI.

In one run, on the same images and the same machine:

* CLI: the path ``bgbye remove`` takes (``bgbye.batch.remove_folder`` over a folder, as many
  workers as cores, ORT threads split the same way), timed in-process so that interpreter start
  and model load are not counted against it;
* server: ``uvicorn bgbye.server.app:create_app --factory`` in a subprocess, ``--concurrency``
  client threads posting the images round-robin to ``POST /v1/remove``.

Throughput rounds alternate CLI and server (``--rounds``, medians reported) so that a noisy
shared machine hurts both alike. Then a memory run: ``--warmup`` requests, server RSS, ``--count``
requests, RSS again. Prints a Markdown table. Target: server >= 90% of CLI images/s at
concurrency = cores, zero errors, RSS growth < 5% over 2,000 requests.

    .venv/bin/python bench/server_load.py                       # full run (2,000 requests)
    .venv/bin/python bench/server_load.py --count 300 --per-round 40   # a shared 2-core box
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real"
SOURCES = ("coco_mval", "ccp_person", "weizmann_horse", "rembg_fixtures")


@dataclass
class Load:
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> int:
        return len(self.latencies)

    def rate(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    def pct(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def pick_images(count: int, folder: Path) -> list[Path]:
    """``count`` real photos spread over the sources, copied to a scratch folder."""
    per = max(1, count // len(SOURCES))
    chosen: list[Path] = []
    for source in SOURCES:
        chosen += sorted((REAL / source / "images").glob("*"))[:per]
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i, src in enumerate(chosen[:count]):
        dst = folder / f"{i:03d}_{src.name}"
        shutil.copy(src, dst)
        out.append(dst)
    return out


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def start_server(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "uvicorn", "bgbye.server.app:create_app", "--factory",
           "--host", "127.0.0.1", "--port", str(port), "--no-access-log", "--log-level", "warning"]
    proc = subprocess.Popen(cmd, env=env)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            raise RuntimeError("server exited during start-up")
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError("server not ready after 120 s")


def load(url: str, payloads: list[tuple[str, bytes]], total: int, concurrency: int) -> Load:
    result = Load()
    lock = threading.Lock()
    counter = iter(range(total))

    def client() -> None:
        with httpx.Client(timeout=300) as http:
            while True:
                with lock:
                    i = next(counter, None)
                if i is None:
                    return
                name, data = payloads[i % len(payloads)]
                start = time.perf_counter()
                try:
                    r = http.post(f"{url}/v1/remove", files={"image": (name, data)})
                    ok = r.status_code == 200 and r.content[:8] == b"\x89PNG\r\n\x1a\n"
                    error = None if ok else f"{r.status_code}: {r.text[:200]}"
                except httpx.HTTPError as exc:
                    error = f"{type(exc).__name__}: {exc}"
                elapsed = time.perf_counter() - start
                with lock:
                    if error is None:
                        result.latencies.append(elapsed)
                    else:
                        result.errors.append(error)

    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    result.seconds = time.perf_counter() - start
    return result


def cli_round(images: list[Path], out: Path, workers: int, model: str) -> Load:
    """What `bgbye remove FOLDER -o OUT --workers N` does, minus process start-up."""
    from bgbye.batch import LocalExecutor, remove_folder
    from bgbye.engines import EngineCache, threads_per_worker
    from bgbye.remover import Remover
    from bgbye.settings import Settings

    settings = Settings()
    threads = threads_per_worker(workers)  # the CLI's own split
    remover = Remover(EngineCache(settings, threads=threads).get(model), settings)
    remover.remove_bytes(images[0].read_bytes())  # warm, like the server's lifespan load
    summary = remove_folder(images[0].parent, out, settings=settings, overwrite=True,
                            executor=LocalExecutor(workers, remover=remover))
    result = Load(seconds=summary.seconds)
    result.latencies = [0.0] * summary.done
    result.errors = [f.message for f in summary.failures]
    return result


def main() -> None:
    cores = os.cpu_count() or 1
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--model", default="u2netp")
    ap.add_argument("--images", type=int, default=40, help="distinct real photos used")
    ap.add_argument("--concurrency", type=int, default=cores)
    ap.add_argument("--threads", type=int, default=cores, help="server pool and CLI workers")
    ap.add_argument("--rounds", type=int, default=3, help="alternating CLI/server rounds")
    ap.add_argument("--per-round", type=int, default=0,
                    help="requests per server round (default: one pass over the images)")
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--count", type=int, default=2000, help="requests in the memory run")
    ap.add_argument("--port", type=int, default=8765)
    args = ap.parse_args()
    if not REAL.is_dir():
        sys.exit(f"{REAL} is absent: the benchmark needs the real photos")

    scratch = Path(tempfile.mkdtemp(prefix="bgbye-load-"))
    images = pick_images(args.images, scratch / "in")
    payloads = [(p.name, p.read_bytes()) for p in images]
    per_round = args.per_round or len(images)
    env = {**os.environ, "BGBYE_STORAGE_DIR": str(scratch / "storage"),
           "BGBYE_DEFAULT_MODEL": args.model, "BGBYE_THREADS": str(args.threads),
           "BGBYE_QUEUE_SIZE": str(max(16, 2 * args.concurrency)), "BGBYE_API_KEYS": ""}
    url = f"http://127.0.0.1:{args.port}"
    server = start_server(env, args.port)
    try:
        cli_rates, server_rounds = [], []
        load(url, payloads, args.warmup, args.concurrency)  # warm the server's caches
        for r in range(args.rounds):
            cli = cli_round(images, scratch / f"out{r}", args.threads, args.model)
            srv = load(url, payloads, per_round, args.concurrency)
            cli_rates.append(cli.rate())
            server_rounds.append(srv)
            print(f"round {r + 1}: CLI {cli.rate():.2f} img/s, server {srv.rate():.2f} img/s "
                  f"({len(srv.errors)} errors)", flush=True)
            if cli.errors:
                sys.exit(f"CLI errors: {cli.errors[:3]}")
        rss_before = rss_kib(server.pid)
        mem = load(url, payloads, args.count, args.concurrency)
        rss_after = rss_kib(server.pid)
    finally:
        server.terminate()
        server.wait(30)
        shutil.rmtree(scratch, ignore_errors=True)

    cli_rate = statistics.median(cli_rates)
    srv_rate = statistics.median(r.rate() for r in server_rounds)
    errors = sum(len(r.errors) for r in server_rounds) + len(mem.errors)
    growth = 100.0 * (rss_after - rss_before) / rss_before
    print()
    print(f"model {args.model}, {len(images)} real photos, {cores} cores, server threads "
          f"{args.threads}, concurrency {args.concurrency}, {args.rounds} rounds x {per_round} "
          f"requests, memory run {args.count} requests after warm-up")
    print()
    print("| measure | CLI (run_local) | server (/v1/remove) | server / CLI |")
    print("|---|---|---|---|")
    print(f"| throughput, img/s (median of {args.rounds}) | {cli_rate:.2f} | {srv_rate:.2f} | "
          f"{srv_rate / cli_rate:.0%} |")
    print(f"| latency p50 / p95 / p99, s (memory run) | | {mem.pct(50):.3f} / {mem.pct(95):.3f} / "
          f"{mem.pct(99):.3f} | |")
    print(f"| throughput, img/s (memory run, {args.count} requests) | | {mem.rate():.2f} | |")
    print(f"| errors | 0 | {errors} | |")
    print(f"| server RSS before -> after, MiB | | {rss_before / 1024:.0f} -> "
          f"{rss_after / 1024:.0f} ({growth:+.1f}%) | |")
    if mem.errors:
        print("first errors:", mem.errors[:3])


if __name__ == "__main__":
    main()
