"""The fit loop: AdamW + warmup/cosine, AMP on CUDA, a checkpoint every epoch, resume, early stop.

Resuming: ``checkpoint_dir/last.pt`` holds the model, optimizer, scheduler, scaler, RNG states,
history and early-stopping state after every epoch (written atomically). When ``fit`` starts and
finds a checkpoint with the same *fingerprint* (a hash of everything that defines the run except
its length), it continues from the next epoch; a finished run is returned as is. So a killed
``kedro run`` resumes on the next ``kedro run``, and raising ``epochs`` extends a finished run.

Per-epoch metrics go to ``on_epoch_end`` callbacks and to :mod:`bgbye_pipelines.ml.events`
subscribers (the monitoring hook); see that module for the dict's keys.
"""

from __future__ import annotations

import logging
import math
import os
import random
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, RandomSampler
from tqdm.auto import tqdm

from bgbye_pipelines.ml import events

log = logging.getLogger(__name__)
LAST = "last.pt"
BEST = "best.pt"


@dataclass
class FitConfig:
    epochs: int = 30
    batch_size: int = 8
    lr: float = 1e-3
    weight_decay: float = 1e-4
    # An epoch = this many pairs drawn at random from the whole train split (None = all): short
    # epochs for slow models (u2netp at 320 px on CPU), so checkpoints/validation come often.
    samples_per_epoch: int | None = None
    decay_bias_and_norm: bool = True  # False: no weight decay on 1-d tensors (biases, norms)
    warmup_epochs: float = 1.0
    schedule: Literal["cosine", "constant"] = "cosine"
    min_lr_ratio: float = 0.02
    patience: int = 8  # epochs without improvement of `monitor` before stopping
    min_delta: float = 1e-4
    monitor: str = "val_mae"  # lower is better
    seed: int = 42
    num_workers: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    amp: bool | None = None  # None = on for CUDA
    grad_clip: float | None = 1.0
    max_minutes: float | None = None  # training-time budget over all resumes
    threads: int | None = None  # torch intra-op threads on CPU (None = torch's default)
    progress: bool = True

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> FitConfig:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in params.items() if k in known})


@dataclass
class FitResult:
    history: list[dict[str, Any]]
    best_path: Path
    best_epoch: int
    best_score: float
    stop_reason: str  # epochs | early_stopping | time_budget
    device: str
    resumed_from: int | None = None
    train_seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


def param_groups(model: nn.Module, cfg: FitConfig) -> list[dict[str, Any]]:
    """One group, or two with no decay on biases/norm scales (u2netp's folded BN lives there)."""
    params = [p for p in model.parameters() if p.requires_grad]
    if cfg.decay_bias_and_norm:
        return [{"params": params}]
    return [{"params": [p for p in params if p.ndim > 1]},
            {"params": [p for p in params if p.ndim <= 1], "weight_decay": 0.0}]


def resolve_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"python": random.getstate(), "numpy": np.random.get_state(),
                             "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def atomic_torch_save(obj: Any, path: Path) -> None:
    """A checkpoint is either the old one or the new one, never half written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(obj, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class TrainingClock:
    """Training seconds so far, across resumes (drives the time-budget schedule and stop)."""

    def __init__(self, elapsed: float = 0.0):
        self.before = elapsed
        self.started: float | None = None

    def start(self) -> None:
        self.started = time.perf_counter()

    def stop(self) -> None:
        if self.started is not None:
            self.before += time.perf_counter() - self.started
            self.started = None

    @property
    def seconds(self) -> float:
        running = 0.0 if self.started is None else time.perf_counter() - self.started
        return self.before + running


def make_scheduler(optimizer: torch.optim.Optimizer, cfg: FitConfig, steps_per_epoch: int,
                   clock: TrainingClock | None = None) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warmup, then cosine to ``min_lr_ratio``.

    With a time budget (``max_minutes``) the cosine follows whichever is further along, the
    steps or the clock, so a budget-limited run still anneals fully before it stops.
    """
    total = max(1, cfg.epochs * steps_per_epoch)
    warmup = min(total - 1, int(cfg.warmup_epochs * steps_per_epoch))
    budget = cfg.max_minutes * 60 if cfg.max_minutes else None

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        if cfg.schedule == "constant":
            return 1.0
        progress = (step - warmup) / max(1, total - warmup)
        if budget and clock is not None:
            progress = max(progress, clock.seconds / budget)
        progress = min(1.0, progress)
        return cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


@torch.no_grad()
def evaluate(model: nn.Module, loader: DataLoader[Any], loss_fn: nn.Module,
             device: torch.device, amp: bool) -> dict[str, float]:
    """Validation loss, MAE and IoU@0.5 at training resolution (the real scoring is on ONNX)."""
    model.eval()
    total_loss, total_mae, total_iou, n = 0.0, 0.0, 0.0, 0
    for x, y in loader:
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        with torch.autocast(device.type, enabled=amp):
            logits = model(x)
        logits = logits.float()
        total_loss += float(loss_fn(logits, y)) * len(x)
        prob = torch.sigmoid(logits)
        total_mae += float((prob - y).abs().flatten(1).mean(1).sum())
        pred, gt = prob > 0.5, y > 0.5
        inter = (pred & gt).flatten(1).sum(1).float()
        union = (pred | gt).flatten(1).sum(1).float()
        total_iou += float(torch.where(union > 0, inter / union.clamp_min(1), 1.0).sum())
        n += len(x)
    return {"val_loss": total_loss / n, "val_mae": total_mae / n, "val_iou": total_iou / n}


def fit(
    model: nn.Module,
    loss_fn: nn.Module,
    train_ds: Dataset[Any],
    val_ds: Dataset[Any],
    cfg: FitConfig,
    checkpoint_dir: Path,
    *,
    fingerprint: str,
    name: str = "model",
    on_epoch_end: Sequence[Callable[[dict[str, Any]], None]] = (),
) -> FitResult:
    checkpoint_dir = Path(checkpoint_dir)
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    device = resolve_device(cfg.device)
    amp = device.type == "cuda" if cfg.amp is None else bool(cfg.amp and device.type == "cuda")
    if cfg.threads and device.type == "cpu":
        torch.set_num_threads(cfg.threads)
    seed_everything(cfg.seed)
    model.to(device)
    n_train = len(train_ds)  # type: ignore[arg-type]
    drop_last = n_train > cfg.batch_size  # a batch of one breaks batch norm in train mode
    generator = torch.Generator().manual_seed(cfg.seed)
    sampler = None
    if cfg.samples_per_epoch and cfg.samples_per_epoch < n_train:
        sampler = RandomSampler(train_ds, num_samples=cfg.samples_per_epoch,  # type: ignore[arg-type]
                                generator=generator)
    train_loader = DataLoader(train_ds, batch_size=cfg.batch_size, shuffle=sampler is None,
                              sampler=sampler, drop_last=drop_last,
                              num_workers=cfg.num_workers, pin_memory=device.type == "cuda",
                              generator=generator if sampler is None else None,
                              persistent_workers=cfg.num_workers > 0)
    val_loader = DataLoader(val_ds, batch_size=cfg.batch_size, shuffle=False,
                            num_workers=cfg.num_workers, pin_memory=device.type == "cuda")
    steps_per_epoch = max(1, len(train_loader))
    optimizer = torch.optim.AdamW(param_groups(model, cfg), lr=cfg.lr,
                                  weight_decay=cfg.weight_decay)
    clock = TrainingClock()
    scheduler = make_scheduler(optimizer, cfg, steps_per_epoch, clock)
    scaler = torch.amp.GradScaler(device.type, enabled=amp)

    history: list[dict[str, Any]] = []
    start_epoch, best_score, best_epoch, bad_epochs, elapsed = 1, math.inf, 0, 0, 0.0
    resumed_from: int | None = None
    last_path, best_path = checkpoint_dir / LAST, checkpoint_dir / BEST
    state = _load_checkpoint(last_path, fingerprint)
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"])
        _set_rng_state(state["rng"])
        generator.set_state(state["loader_rng"])
        history = list(state["history"])
        best_score, best_epoch = state["best_score"], state["best_epoch"]
        bad_epochs, elapsed = state["bad_epochs"], state["elapsed"]
        clock.before = elapsed
        start_epoch = resumed_from = state["epoch"] + 1
        stop = state.get("stop_reason")
        if stop in ("early_stopping", "time_budget") or start_epoch > cfg.epochs:
            log.info("%s: training already finished (%s after epoch %d); delete %s to retrain",
                     name, stop or "epochs", state["epoch"], checkpoint_dir)
            return FitResult(history, best_path, best_epoch, best_score, stop or "epochs",
                             str(device), resumed_from, elapsed)
        log.info("%s: resuming from epoch %d of %d (checkpoint %s)", name, start_epoch,
                 cfg.epochs, last_path)

    stop_reason = "epochs"
    log.info("%s: training on %s (amp=%s), %d train / %d val pairs, %d steps/epoch", name, device,
             amp, n_train, len(val_ds), steps_per_epoch)  # type: ignore[arg-type]
    for epoch in range(start_epoch, cfg.epochs + 1):
        t0 = time.perf_counter()
        clock.start()
        train_loss, seen = _train_epoch(model, loss_fn, train_loader, optimizer, scheduler, scaler,
                                        device, amp, cfg, desc=f"{name} epoch {epoch}/{cfg.epochs}")
        train_seconds = time.perf_counter() - t0
        val = evaluate(model, val_loader, loss_fn, device, amp)
        seconds = time.perf_counter() - t0
        clock.stop()
        elapsed = clock.seconds
        row = {"epoch": epoch, "train_loss": train_loss, **val,
               "lr": optimizer.param_groups[0]["lr"], "images_per_s": seen / train_seconds,
               "seconds": seconds, "elapsed_s": elapsed}
        score = float(row[cfg.monitor])
        improved = score < best_score - cfg.min_delta
        if improved:
            best_score, best_epoch, bad_epochs = score, epoch, 0
            atomic_torch_save({"model": model.state_dict(), "epoch": epoch,
                               "fingerprint": fingerprint}, best_path)
        else:
            bad_epochs += 1
        row["best"] = improved
        history.append(row)
        if bad_epochs >= cfg.patience:
            stop_reason = "early_stopping"
        elif cfg.max_minutes and elapsed + seconds > cfg.max_minutes * 60 and epoch < cfg.epochs:
            stop_reason = "time_budget"  # the next epoch would not fit in the budget
        atomic_torch_save({
            "epoch": epoch, "fingerprint": fingerprint, "model": model.state_dict(),
            "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
            "scaler": scaler.state_dict(), "rng": _rng_state(), "loader_rng": generator.get_state(),
            "history": history, "best_score": best_score, "best_epoch": best_epoch,
            "bad_epochs": bad_epochs, "elapsed": elapsed,
            "stop_reason": stop_reason if stop_reason != "epochs" else None,
            "config": asdict(cfg),
        }, last_path)
        log.info("%s epoch %d/%d  train_loss %.4f  val_loss %.4f  val_mae %.4f  val_iou %.3f  "
                 "lr %.2e  %.1f img/s  %.0fs%s", name, epoch, cfg.epochs, train_loss,
                 val["val_loss"], val["val_mae"], val["val_iou"], row["lr"], row["images_per_s"],
                 seconds, "  *best*" if improved else "")
        events.emit({**row, "model": name}, extra=list(on_epoch_end))
        if stop_reason != "epochs":
            log.info("%s: stopping after epoch %d (%s)", name, epoch, stop_reason)
            break
    if best_epoch == 0:  # no epoch ran (e.g. epochs=0): keep the initial weights as "best"
        atomic_torch_save({"model": model.state_dict(), "epoch": 0, "fingerprint": fingerprint},
                          best_path)
    return FitResult(history, best_path, best_epoch, best_score, stop_reason, str(device),
                     resumed_from, elapsed)


def _train_epoch(model: nn.Module, loss_fn: nn.Module, loader: DataLoader[Any],
                 optimizer: torch.optim.Optimizer, scheduler: torch.optim.lr_scheduler.LRScheduler,
                 scaler: torch.amp.GradScaler, device: torch.device, amp: bool, cfg: FitConfig,
                 desc: str) -> tuple[float, int]:
    model.train()
    total, seen = 0.0, 0
    bar = tqdm(loader, desc=desc, leave=False, disable=not cfg.progress, mininterval=2.0)
    for x, y in bar:
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        with torch.autocast(device.type, enabled=amp):
            logits = model(x)
        loss = loss_fn(logits.float(), y)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        if cfg.grad_clip:
            scaler.unscale_(optimizer)
            nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        scaler.step(optimizer)
        scaler.update()
        scheduler.step()
        total += loss.item() * len(x)
        seen += len(x)
        bar.set_postfix(loss=f"{total / seen:.4f}", refresh=False)
    return total / max(seen, 1), seen


def _load_checkpoint(path: Path, fingerprint: str) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception:
        log.warning("checkpoint %s is unreadable: starting from scratch", path, exc_info=True)
        return None
    if state.get("fingerprint") != fingerprint:
        log.warning("checkpoint %s belongs to a different configuration or data: starting from "
                    "scratch (it will be overwritten)", path)
        return None
    return dict(state)
