"""The fit loop: Adam(W) + warmup/cosine or constant lr, AMP on CUDA (device auto), a checkpoint
every epoch, resume, early stop, and an optional forgetting guard (:mod:`.guard`).

Resuming: ``checkpoint_dir/last.pt`` holds the model, optimizer, scheduler, scaler, RNG states,
history and early-stopping state after every epoch (written atomically). When ``fit`` starts and
finds a checkpoint with the same *fingerprint* (a hash of everything that defines the run except
its length), it continues from the next epoch; a finished run is returned as is. So a killed
``kedro run`` resumes on the next ``kedro run``, and raising ``epochs`` extends a finished run.

Per-epoch metrics go to ``on_epoch_end`` callbacks and to :mod:`bgbye_pipelines.ml.events`
subscribers (the monitoring hook); see that module for the dict's keys.
"""

from __future__ import annotations

import io
import logging
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from torch.utils.data import DataLoader, Dataset, RandomSampler
from tqdm.auto import tqdm

from bgbye.atomic import atomic_write_bytes
from bgbye_pipelines.ml import events
from bgbye_pipelines.ml.calibration import fit_calibration
from bgbye_pipelines.ml.guard import Guard
from bgbye_pipelines.ml.served import (
    IDENTITY,
    Calibration,
    Normalize,
    Outputs,
    as_tuple,
    primary,
    served_alpha,
)

log = logging.getLogger(__name__)
LAST = "last.pt"
BEST = "best.pt"


@dataclass
class FitConfig:
    epochs: int = 30
    batch_size: int = 8
    optimizer: Literal["adamw", "adam"] = "adamw"
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
    # Validate the starting weights first (history row "epoch 0"): the baseline is in the
    # curves, and a run that never beats it keeps the starting weights as its best.
    validate_start: bool = False
    # Exponential moving average of the weights, decay per step (e.g. 0.95; None = off): what is
    # validated, kept as best and exported. Fine-tuning with small batches is noisy step to step.
    ema: float | None = None
    # Fit an output calibration (logit scale + shift, :mod:`.calibration`) on the validation
    # pairs at every validation: val_mae is the calibrated served MAE (val_mae_raw without), the
    # best epoch is chosen on it, the loss's served term uses it and the export bakes it in.
    calibrate: bool = False
    progress: bool = True

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> FitConfig:
        from bgbye.errors import BgbyeError

        unknown = set(params) - set(cls.__dataclass_fields__)
        if unknown:
            raise BgbyeError(f"unknown fit parameters {sorted(unknown)}", code="bad_parameters",
                             http_status=422)
        return cls(**params)


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
    """A checkpoint is either the old one or the new one, never half written, with the mode a
    plain ``open()`` gives (bgbye.atomic: one rule for every atomic write)."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    atomic_write_bytes(Path(path), buffer.getbuffer().tobytes())


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


def _float(outputs: Outputs) -> tuple[torch.Tensor, ...]:
    return tuple(o.float() for o in as_tuple(outputs))


@torch.no_grad()
def evaluate(model: nn.Module, loader: DataLoader[Any], loss_fn: nn.Module,
             device: torch.device, amp: bool, normalize: Normalize = "none",
             calibrate: bool = False) -> dict[str, float]:
    """Validation loss, MAE and IoU@0.5 of the served alpha at training resolution (the real
    scoring is on the exported ONNX, at full size). With ``calibrate``, the output calibration
    is fitted on these pairs first and MAE/IoU are of the calibrated alpha (``val_mae_raw``:
    without; ``calib_scale``/``calib_shift``: the pair)."""
    model.eval()
    logits, targets = [], []  # kept only to fit the calibration on all pairs at once
    total_loss, n = 0.0, 0
    totals = {"val_mae": 0.0, "val_iou": 0.0}
    for x, y in loader:
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        with torch.autocast(device.type, enabled=amp):
            outputs = model(x)
        outputs = _float(outputs)
        total_loss += float(loss_fn(outputs, y)) * len(x)
        n += len(x)
        if calibrate:
            logits.append(primary(outputs).cpu())
            targets.append(y.cpu())
        else:
            for key, value in _served_scores(primary(outputs), y, normalize, IDENTITY).items():
                totals[key] += value * len(x)
    if not calibrate:
        return {"val_loss": total_loss / n, **{k: v / n for k, v in totals.items()}}
    z, y = torch.cat(logits), torch.cat(targets)
    calibration = fit_calibration(z, y, normalize)
    return {"val_loss": total_loss / n, **_served_scores(z, y, normalize, calibration),
            "val_mae_raw": _served_scores(z, y, normalize, IDENTITY)["val_mae"],
            "calib_scale": calibration.scale, "calib_shift": calibration.shift}


def _served_scores(z: torch.Tensor, y: torch.Tensor, normalize: Normalize,
                   calibration: Calibration) -> dict[str, float]:
    prob = served_alpha(z, normalize, calibration)
    pred, gt = prob > 0.5, y > 0.5
    inter = (pred & gt).flatten(1).sum(1).float()
    union = (pred | gt).flatten(1).sum(1).float()
    iou = torch.where(union > 0, inter / union.clamp_min(1), 1.0)
    return {"val_mae": float((prob - y).abs().flatten(1).mean(1).mean()),
            "val_iou": float(iou.mean())}


def row_calibration(row: dict[str, Any] | None) -> Calibration:
    """The calibration a history row was validated with (identity when none was fitted)."""
    if not row or "calib_scale" not in row or not math.isfinite(float(row["calib_scale"])):
        return IDENTITY
    return Calibration(float(row["calib_scale"]), float(row["calib_shift"]))


def _use_calibration(loss_fn: nn.Module, row: dict[str, Any] | None) -> None:
    """Let the loss's served term see the calibration the last validation chose."""
    if hasattr(loss_fn, "calibration"):
        setattr(loss_fn, "calibration", row_calibration(row))  # noqa: B010 (nn.Module typing)


@dataclass
class _Run:
    """Everything one fit needs besides the model: built once, restored from a checkpoint."""

    device: torch.device
    amp: bool
    train_loader: DataLoader[Any]
    val_loader: DataLoader[Any]
    generator: torch.Generator
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    scaler: torch.amp.GradScaler
    clock: TrainingClock
    ema: AveragedModel | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    start_epoch: int = 1
    best_score: float = math.inf
    best_epoch: int = 0
    bad_epochs: int = 0
    resumed_from: int | None = None
    finished: str | None = None  # stop reason of an already finished run


def _loaders(train_ds: Dataset[Any], val_ds: Dataset[Any], cfg: FitConfig, device: torch.device
             ) -> tuple[DataLoader[Any], DataLoader[Any], torch.Generator]:
    n_train = len(train_ds)  # type: ignore[arg-type]
    drop_last = n_train > cfg.batch_size  # a batch of one breaks batch norm in train mode
    generator = torch.Generator().manual_seed(cfg.seed)
    sampler = None
    if cfg.samples_per_epoch and cfg.samples_per_epoch < n_train:
        sampler = RandomSampler(train_ds, num_samples=cfg.samples_per_epoch,  # type: ignore[arg-type]
                                generator=generator)
    pin = device.type == "cuda"
    train_loader = DataLoader(train_ds, batch_size=cfg.batch_size, shuffle=sampler is None,
                              sampler=sampler, drop_last=drop_last,
                              num_workers=cfg.num_workers, pin_memory=pin,
                              generator=generator if sampler is None else None,
                              persistent_workers=cfg.num_workers > 0)
    val_loader = DataLoader(val_ds, batch_size=cfg.batch_size, shuffle=False,
                            num_workers=cfg.num_workers, pin_memory=pin)
    return train_loader, val_loader, generator


def _make_optimizer(model: nn.Module, cfg: FitConfig) -> torch.optim.Optimizer:
    groups = param_groups(model, cfg)
    if cfg.optimizer == "adam":  # Adam's L2 decay, as U²-Net was trained (decay 0 there)
        return torch.optim.Adam(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.AdamW(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)


def keep_freed_memory() -> bool:
    """Stop glibc from returning large freed blocks to the OS after every step.

    CPU training allocates and frees the same activation-sized buffers each step; above glibc's
    mmap threshold every one is a fresh mmap that page-faults back in (millions of minor faults
    a minute). Raising the mmap and trim thresholds keeps them in the heap for reuse: u2netp at
    320 px, batch 4, one thread: 11.3 -> 7.9 s a step, 7.5x fewer page faults
    (bench/train_malloc.py).
    A no-op (False) where the C library is not glibc.
    """
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3  # <malloc.h>
    return bool(mallopt(m_mmap_threshold, 1 << 30)) and bool(mallopt(m_trim_threshold, 1 << 30))


def _setup(model: nn.Module, train_ds: Dataset[Any], val_ds: Dataset[Any], cfg: FitConfig
           ) -> _Run:
    device = resolve_device(cfg.device)
    amp = device.type == "cuda" if cfg.amp is None else bool(cfg.amp and device.type == "cuda")
    if device.type == "cpu":
        keep_freed_memory()
    if cfg.threads and device.type == "cpu":
        torch.set_num_threads(cfg.threads)
    seed_everything(cfg.seed)
    model.to(device)
    train_loader, val_loader, generator = _loaders(train_ds, val_ds, cfg, device)
    optimizer = _make_optimizer(model, cfg)
    clock = TrainingClock()
    scheduler = make_scheduler(optimizer, cfg, max(1, len(train_loader)), clock)
    scaler = torch.amp.GradScaler(device.type, enabled=amp)
    ema = (AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(cfg.ema), use_buffers=True)
           if cfg.ema else None)
    return _Run(device, amp, train_loader, val_loader, generator, optimizer, scheduler, scaler,
                clock, ema)


def scored_model(run: _Run, model: nn.Module) -> nn.Module:
    """The weights that are validated, kept as best and exported: the EMA copy when on."""
    return run.ema.module if run.ema is not None else model


def _restore(run: _Run, model: nn.Module, loss_fn: nn.Module, state: dict[str, Any],
             cfg: FitConfig) -> None:
    model.load_state_dict(state["model"])
    if run.ema is not None:
        run.ema.load_state_dict(state["ema"])
    run.optimizer.load_state_dict(state["optimizer"])
    run.scheduler.load_state_dict(state["scheduler"])
    run.scaler.load_state_dict(state["scaler"])
    _set_rng_state(state["rng"])
    run.generator.set_state(state["loader_rng"])
    run.history = list(state["history"])
    if cfg.calibrate:
        _use_calibration(loss_fn, run.history[-1] if run.history else None)
    run.best_score, run.best_epoch = state["best_score"], state["best_epoch"]
    run.bad_epochs = state["bad_epochs"]
    run.clock.before = state["elapsed"]
    run.start_epoch = run.resumed_from = state["epoch"] + 1
    if _stays_finished(state, cfg):
        run.finished = state.get("stop_reason") or "epochs"


def _save_last(run: _Run, model: nn.Module, cfg: FitConfig, epoch: int, fingerprint: str,
               stop_reason: str, path: Path) -> None:
    atomic_torch_save({
        "epoch": epoch, "fingerprint": fingerprint, "model": model.state_dict(),
        "ema": run.ema.state_dict() if run.ema is not None else None,
        "optimizer": run.optimizer.state_dict(), "scheduler": run.scheduler.state_dict(),
        "scaler": run.scaler.state_dict(), "rng": _rng_state(),
        "loader_rng": run.generator.get_state(), "history": run.history,
        "best_score": run.best_score, "best_epoch": run.best_epoch,
        "bad_epochs": run.bad_epochs, "elapsed": run.clock.seconds,
        "stop_reason": stop_reason if stop_reason != "epochs" else None, "config": asdict(cfg),
    }, path)


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
    normalize: Normalize = "none",
    guard: Guard | None = None,
) -> FitResult:
    """Train (or resume) ``model``; ``guard`` (a :class:`.guard.Guard`) adds its images to
    every batch; ``normalize`` is how the served alpha is decoded (validation MAE)."""
    checkpoint_dir = Path(checkpoint_dir)
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    run = _setup(model, train_ds, val_ds, cfg)
    last_path, best_path = checkpoint_dir / LAST, checkpoint_dir / BEST
    state = _load_checkpoint(last_path, fingerprint)
    if state is not None:
        _restore(run, model, loss_fn, state, cfg)
        if run.finished:
            log.info("%s: training already finished (%s after epoch %d); delete %s to retrain",
                     name, run.finished, state["epoch"], checkpoint_dir)
            return FitResult(run.history, best_path, run.best_epoch, run.best_score,
                             run.finished, str(run.device), run.resumed_from, run.clock.seconds)
        log.info("%s: resuming from epoch %d of %d (checkpoint %s)", name, run.start_epoch,
                 cfg.epochs, last_path)

    if state is None and cfg.validate_start:
        _validate_start(run, model, loss_fn, cfg, normalize, fingerprint, best_path, name)
    stop_reason = "epochs"
    log.info("%s: training on %s (amp=%s), %d train / %d val pairs, %d steps/epoch%s", name,
             run.device, run.amp, len(train_ds), len(val_ds),  # type: ignore[arg-type]
             len(run.train_loader), f", guard {len(guard)} images" if guard else "")
    for epoch in range(run.start_epoch, cfg.epochs + 1):
        row = _run_epoch(run, model, loss_fn, cfg, epoch, name, normalize, guard)
        improved = float(row[cfg.monitor]) < run.best_score - cfg.min_delta
        if improved:
            run.best_score, run.best_epoch, run.bad_epochs = float(row[cfg.monitor]), epoch, 0
            atomic_torch_save({"model": scored_model(run, model).state_dict(), "epoch": epoch,
                               "fingerprint": fingerprint}, best_path)
        else:
            run.bad_epochs += 1
        row["best"] = improved
        run.history.append(row)
        if cfg.calibrate:
            _use_calibration(loss_fn, row)
        if run.bad_epochs >= cfg.patience:
            stop_reason = "early_stopping"
        elif (cfg.max_minutes and run.clock.seconds + row["seconds"] > cfg.max_minutes * 60
              and epoch < cfg.epochs):
            stop_reason = "time_budget"  # the next epoch would not fit in the budget
        _save_last(run, model, cfg, epoch, fingerprint, stop_reason, last_path)
        log.info("%s epoch %d/%d  train_loss %.4f  val_loss %.4f  val_mae %.4f  val_iou %.3f  "
                 "lr %.2e  %.2f img/s  %.0fs%s", name, epoch, cfg.epochs, row["train_loss"],
                 row["val_loss"], row["val_mae"], row["val_iou"], row["lr"],
                 row["images_per_s"], row["seconds"], "  *best*" if improved else "")
        events.emit({**row, "model": name}, extra=list(on_epoch_end))
        if stop_reason != "epochs":
            log.info("%s: stopping after epoch %d (%s)", name, epoch, stop_reason)
            break
    if run.best_epoch == 0 and not any(row["epoch"] == 0 for row in run.history):
        # no epoch ran and the start was not validated (e.g. epochs=0): the initial weights are
        # "best". (With validate_start, best.pt already holds them: never overwrite it with
        # trained weights that did not beat the start.)
        atomic_torch_save({"model": model.state_dict(), "epoch": 0, "fingerprint": fingerprint},
                          best_path)
    return FitResult(run.history, best_path, run.best_epoch, run.best_score, stop_reason,
                     str(run.device), run.resumed_from, run.clock.seconds)


def _validate_start(run: _Run, model: nn.Module, loss_fn: nn.Module, cfg: FitConfig,
                    normalize: Normalize, fingerprint: str, best_path: Path, name: str) -> None:
    t0 = time.perf_counter()
    val = evaluate(model, run.val_loader, loss_fn, run.device, run.amp, normalize, cfg.calibrate)
    row = {"epoch": 0, "train_loss": math.nan, **val, "images": 0,
           "lr": run.optimizer.param_groups[0]["lr"], "images_per_s": 0.0,
           "seconds": time.perf_counter() - t0, "elapsed_s": 0.0, "best": True}
    run.history.append(row)
    if cfg.calibrate:
        _use_calibration(loss_fn, row)
    run.best_score = float(row[cfg.monitor])
    atomic_torch_save({"model": model.state_dict(), "epoch": 0, "fingerprint": fingerprint},
                      best_path)
    log.info("%s: starting weights  val_loss %.4f  val_mae %.4f  val_iou %.3f", name,
             val["val_loss"], val["val_mae"], val["val_iou"])


def _run_epoch(run: _Run, model: nn.Module, loss_fn: nn.Module, cfg: FitConfig, epoch: int,
               name: str, normalize: Normalize, guard: Guard | None) -> dict[str, Any]:
    """One training epoch and its validation; the history row."""
    t0 = time.perf_counter()
    run.clock.start()
    train_loss, seen = _train_epoch(model, loss_fn, run, cfg, guard,
                                    desc=f"{name} epoch {epoch}/{cfg.epochs}")
    train_seconds = time.perf_counter() - t0
    val = evaluate(scored_model(run, model), run.val_loader, loss_fn, run.device, run.amp,
                   normalize, cfg.calibrate)
    seconds = time.perf_counter() - t0
    run.clock.stop()
    return {"epoch": epoch, "train_loss": train_loss, **val, "images": seen,
            "lr": run.optimizer.param_groups[0]["lr"], "images_per_s": seen / train_seconds,
            "seconds": seconds, "elapsed_s": run.clock.seconds}


def _step_loss(model: nn.Module, loss_fn: nn.Module, x: torch.Tensor, y: torch.Tensor,
               run: _Run, guard: Guard | None) -> torch.Tensor:
    """The batch loss; with a guard, its images ride in the same forward pass."""
    n = len(x)
    if guard is not None:
        xg, tg = guard.sample(guard.cfg.per_step)
        x = torch.cat([x, xg.to(run.device, non_blocking=True)])
    with torch.autocast(run.device.type, enabled=run.amp):
        outputs = model(x)
    outputs = _float(outputs)
    loss = loss_fn(tuple(o[:n] for o in outputs), y)
    if guard is not None:
        distill = guard.loss(tuple(o[n:] for o in outputs), tg.to(run.device, non_blocking=True))
        loss = loss + guard.cfg.weight * distill
    return loss


def _train_epoch(model: nn.Module, loss_fn: nn.Module, run: _Run, cfg: FitConfig,
                 guard: Guard | None,
                 desc: str) -> tuple[float, int]:
    model.train()
    total, seen = 0.0, 0
    bar = tqdm(run.train_loader, desc=desc, leave=False, disable=not cfg.progress,
               mininterval=2.0)
    for x, y in bar:
        x, y = x.to(run.device, non_blocking=True), y.to(run.device, non_blocking=True)
        loss = _step_loss(model, loss_fn, x, y, run, guard)
        run.optimizer.zero_grad(set_to_none=True)
        run.scaler.scale(loss).backward()
        if cfg.grad_clip:
            run.scaler.unscale_(run.optimizer)
            nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        run.scaler.step(run.optimizer)
        run.scaler.update()
        run.scheduler.step()
        if run.ema is not None:
            run.ema.update_parameters(model)
        total += loss.item() * len(x)
        seen += len(x)
        bar.set_postfix(loss=f"{total / seen:.4f}", refresh=False)
    return total / max(seen, 1), seen


def is_finished(checkpoint_dir: Path, fingerprint: str, cfg: FitConfig) -> bool:
    """Whether ``fit`` would return at once (a finished run of this configuration)."""
    state = _load_checkpoint(Path(checkpoint_dir) / LAST, fingerprint)
    return state is not None and _stays_finished(state, cfg)


def _stays_finished(state: dict[str, Any], cfg: FitConfig) -> bool:
    """A stopped run stays stopped, unless raising ``epochs`` or ``max_minutes`` extends it."""
    stop = state.get("stop_reason")
    if stop == "early_stopping" or state["epoch"] + 1 > cfg.epochs:
        return True
    if stop == "time_budget":
        last = state["history"][-1]["seconds"] if state["history"] else 0.0
        budget = cfg.max_minutes
        return budget is not None and budget > 0 and state["elapsed"] + last > budget * 60
    return False


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
