"""Render the Grafana dashboards as pictures, from real data (Grafana itself is not packaged).

Starts the real Pushgateway and Prometheus (Debian packages), the bgbye server with u2netp (or
the tiny test model if u2netp is not fetched), sends a short mixed load, runs a real short Kedro
training with BGBYE_PUSHGATEWAY_URL set, then evaluates every panel's PromQL through
Prometheus' query_range API and draws the panels where the dashboard JSON puts them.

    .venv/bin/python monitoring/render_dashboards.py [--seconds 60] [--epochs 6]
writes docs/img/dashboard-serving.png and docs/img/dashboard-training.png.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from tests.conftest import CACHE_MODELS, image_bytes  # noqa: E402
from tests.monitoring.promql import grafana_to_promql  # noqa: E402
from tests.monitoring.server import running_server  # noqa: E402
from tests.monitoring.services import prometheus, pushgateway, wait_until  # noqa: E402

from bgbye.settings import Settings  # noqa: E402

BOARDS = ROOT / "monitoring" / "grafana" / "dashboards"
OUT = ROOT / "docs" / "img"


def server_settings(tmp: Path) -> Settings:
    models = tmp / "models"
    models.mkdir()
    if (CACHE_MODELS / "u2netp.onnx").is_file():
        shutil.copy(CACHE_MODELS / "u2netp.onnx", models / "u2netp.onnx")
        name = "u2netp"
    else:
        from tests.model_fixtures import write_tiny_model
        write_tiny_model(models)
        name = "tiny"
    return Settings(model_dir=models, extra_model_dirs=[], default_model=name,
                    storage_dir=tmp / "storage", threads=2, queue_size=2)


def send_load(server: str, seconds: float, clients: int = 3) -> None:
    """``clients`` concurrent users: mostly good images, some bad uploads, health checks."""
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(lambda seed: one_client(server, seconds, seed), range(clients)))


def one_client(server: str, seconds: float, seed: int) -> None:
    rng = random.Random(seed)
    images = [image_bytes("PNG", w, h) for w, h in ((320, 240), (640, 480), (1024, 768))]
    deadline = time.monotonic() + seconds
    with httpx.Client(base_url=f"http://{server}", timeout=60) as client:
        while time.monotonic() < deadline:
            roll = rng.random()
            if roll < 0.75:
                client.post("/v1/remove", files={"image": ("a.png", rng.choice(images))},
                            data={"format": rng.choice(["png", "webp"])})
            elif roll < 0.85:
                client.post("/v1/remove", files={"image": ("bad.png", b"not an image")})
            elif roll < 0.9:
                client.post("/process/local", files={"image": ("a.png", images[0])})
            else:
                client.get("/healthz")
            time.sleep(rng.uniform(0.0, 0.3))


def run_batch(gateway: str, tmp: Path, settings: Settings) -> None:
    """A real `bgbye remove` over a few files, which pushes its summary to the Pushgateway."""
    src = tmp / "batch-in"
    src.mkdir()
    for i in range(6):
        (src / f"{i}.png").write_bytes(image_bytes("PNG", 320, 240))
    (src / "broken.png").write_bytes(b"not an image")
    env = {**os.environ, "BGBYE_PUSHGATEWAY_URL": gateway,
           "BGBYE_MODEL_DIR": str(settings.model_dir),
           "BGBYE_DEFAULT_MODEL": settings.default_model}
    bgbye = str(Path(sys.executable).with_name("bgbye"))
    subprocess.run([bgbye, "remove", str(src), "-o", str(tmp / "batch-out")], env=env,
                   capture_output=True, check=False)  # exit 1: the broken file, on purpose


def run_training(gateway: str, epochs: int) -> None:
    env = {**os.environ, "BGBYE_PUSHGATEWAY_URL": gateway, "KEDRO_DISABLE_TELEMETRY": "true"}
    kedro = str(Path(sys.executable).with_name("kedro"))
    for cmd in ([kedro, "run", "--env", "test", "--pipeline", "data_ingestion"],
                [kedro, "run", "--env", "test", "--pipeline", "data_preprocessing"],
                [kedro, "run", "--env", "test", "--pipeline", "model_training",
                 "--params", f"model_training.fit.epochs={epochs},model_training.resume=false"]):
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(cmd[1:])} failed:\n{proc.stderr[-3000:]}")


def query_range(prom: str, expr: str, start: float, end: float) -> list[dict[str, Any]]:
    step = max(1.0, (end - start) / 240)
    resp = httpx.get(f"{prom}/api/v1/query_range", timeout=30, params={
        "query": expr, "start": start, "end": end, "step": step})
    resp.raise_for_status()
    return list(resp.json()["data"]["result"])


def legend(fmt: str, labels: dict[str, str]) -> str:
    for key, value in labels.items():
        fmt = fmt.replace("{{" + key + "}}", value)
    return fmt.replace("{{__name__}}", labels.get("__name__", "")) or str(labels)


def render(board_path: Path, prom: str, start: float, end: float, out: Path) -> None:
    board = json.loads(board_path.read_text())
    rows = max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in board["panels"]) + 2  # + title
    plt.style.use("dark_background")
    fig = plt.figure(figsize=(16, rows * 0.4), dpi=72)
    fig.text(0.01, 1 - 0.6 / rows, board["title"], fontsize=16, va="center")
    for panel in board["panels"]:
        g = panel["gridPos"]
        ax = fig.add_axes((g["x"] / 24 + 0.04, 1 - (g["y"] + g["h"] + 2) / rows + 1.2 / rows,
                           g["w"] / 24 - 0.05, (g["h"] - 2.2) / rows))
        ax.set_title(panel["title"], fontsize=10, loc="left")
        ax.tick_params(labelsize=7)
        series = []
        for target in panel["targets"]:
            expr = grafana_to_promql(target["expr"], "15s", {"job": "bgbye-ui"})
            for s in query_range(prom, expr, start, end):
                t = [float(v[0]) - start for v in s["values"]]
                y = [float(v[1]) for v in s["values"]]
                series.append((legend(target.get("legendFormat", ""), s["metric"]), t, y))
        if not series:
            ax.text(0.5, 0.5, "no data", ha="center", va="center", color="grey",
                    transform=ax.transAxes)
        elif panel["type"] in ("stat", "bargauge", "table"):
            ax.axis("off")
            if len(series) == 1:
                name, _, y = series[0]
                ax.text(0.5, 0.55, f"{y[-1]:.4g}", ha="center", va="center", fontsize=24,
                        transform=ax.transAxes, color="#73bf69")
                ax.text(0.5, 0.1, name[:48], ha="center", fontsize=7, transform=ax.transAxes)
            else:
                text = "\n".join(f"{name[:48]}: {y[-1]:.4g}" for name, _, y in series[:4])
                ax.text(0.5, 0.45, text, ha="center", va="center", fontsize=11,
                        transform=ax.transAxes, color="#73bf69")
        else:
            for name, t, y in series[:8]:
                ax.plot(t, y, lw=1.2, label=name[:40])
            ax.legend(fontsize=6, loc="upper left", framealpha=0.3)
            ax.set_xlabel("seconds", fontsize=7)
            ax.grid(alpha=0.2)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=72)
    plt.close(fig)
    print(f"wrote {out.relative_to(ROOT)} ({out.stat().st_size // 1024} KB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="serving load duration")
    parser.add_argument("--epochs", type=int, default=6, help="training epochs to push")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bgbye-dash-") as name:
        tmp = Path(name)
        settings = server_settings(tmp)
        with running_server(settings) as server, pushgateway(tmp) as pg, \
                prometheus(tmp, {"bgbye-ui": server,
                                 "pushgateway": pg.url.removeprefix("http://")}) as prom:
            wait_until(lambda: prom.targets_up("bgbye-ui"), what="first scrape")
            start = time.time()
            send_load(server, args.seconds)
            run_batch(pg.url, tmp, settings)
            time.sleep(3)
            render(BOARDS / "serving.json", prom.url, start, time.time(),
                   OUT / "dashboard-serving.png")
            start = time.time()
            run_training(pg.url, args.epochs)
            time.sleep(3)
            render(BOARDS / "training.json", prom.url, start, time.time(),
                   OUT / "dashboard-training.png")


if __name__ == "__main__":
    main()
