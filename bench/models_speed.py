"""CPU time per image for the catalogue's architectures, timed through bgbye's ONNX engine.

The weights cannot be downloaded here, so each architecture is rebuilt in torch with random
weights (U^2-Net, U^2-Net-p, IS-Net), exported to ONNX and run through ``OnnxEngine`` with the
catalogue spec: the same graph shape, the same FLOPs, so the same time as the real weights.
The real u2netp (when fetched) is timed in the same run as the anchor: the rebuilt u2netp must
match its convolution shapes exactly and its time closely. BiRefNet's Swin backbones are timed
alone (``--swin``), a lower bound for the birefnet-* and bria-rmbg models.

    PYTHONPATH=src .venv/bin/python bench/models_speed.py [--runs 3] [--threads 2] [--swin]
    PYTHONPATH=src .venv/bin/python bench/models_speed.py --macs   # GMACs per architecture
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from bgbye.engines.onnx import OnnxEngine
from bgbye.models.registry import bundled_specs
from bgbye.models.spec import ModelSpec


class ConvBnRelu(nn.Module):
    def __init__(self, cin: int, cout: int, dilation: int = 1):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, padding=dilation, dilation=dilation)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))


def _up(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, size=like.shape[2:], mode="bilinear", align_corners=False)


class RSU(nn.Module):
    """Residual U-block of height ``depth`` (RSU-7 ... RSU-4); ``flat`` is RSU-4F (dilations)."""

    def __init__(self, depth: int, cin: int, mid: int, cout: int, flat: bool = False):
        super().__init__()
        self.flat = flat
        self.cin = ConvBnRelu(cin, cout)
        dil = [1, 2, 4, 8] if flat else [1] * (depth - 1) + [2]
        self.enc = nn.ModuleList(
            [ConvBnRelu(cout if i == 0 else mid, mid, dil[i]) for i in range(depth)]
        )
        self.dec = nn.ModuleList(
            [
                ConvBnRelu(2 * mid, cout if i == depth - 2 else mid, dil[depth - 2 - i])
                for i in range(depth - 1)
            ]
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hin = self.cin(x)
        feats, h = [], hin
        for i, conv in enumerate(self.enc):
            h = conv(h)
            feats.append(h)
            if not self.flat and i < len(self.enc) - 2:
                h = F.max_pool2d(h, 2, 2, ceil_mode=True)
        d = feats[-1]
        for i, conv in enumerate(self.dec):
            skip = feats[-2 - i]
            if not self.flat and i > 0:
                d = _up(d, skip)
            d = conv(torch.cat([d, skip], 1))
        return d + hin


class U2Net(nn.Module):
    """U^2-Net (``small`` = U^2-Net-p); ``stem`` = IS-Net's strided input conv."""

    def __init__(self, small: bool, out_ch: int = 1, stem: bool = False):
        super().__init__()
        if small:
            enc = [
                (7, 3, 16, 64),
                (6, 64, 16, 64),
                (5, 64, 16, 64),
                (4, 64, 16, 64),
                (4, 64, 16, 64),
                (4, 64, 16, 64),
            ]
            dec = [
                (4, 128, 16, 64),
                (4, 128, 16, 64),
                (5, 128, 16, 64),
                (6, 128, 16, 64),
                (7, 128, 16, 64),
            ]
        else:
            enc = [
                (7, 64 if stem else 3, 32, 64),
                (6, 64, 32, 128),
                (5, 128, 64, 256),
                (4, 256, 128, 512),
                (4, 512, 256, 512),
                (4, 512, 256, 512),
            ]
            dec = [
                (4, 1024, 256, 512),
                (4, 1024, 128, 256),
                (5, 512, 64, 128),
                (6, 256, 32, 64),
                (7, 128, 16, 64),
            ]
        self.stem = nn.Conv2d(3, 64, 3, stride=2, padding=1) if stem else None
        self.enc = nn.ModuleList(
            [RSU(d, a, b, c, flat=i >= 4) for i, (d, a, b, c) in enumerate(enc)]
        )
        self.dec = nn.ModuleList(
            [RSU(d, a, b, c, flat=i == 0) for i, (d, a, b, c) in enumerate(dec)]
        )
        side_in = [dec[-1 - i][3] for i in range(5)] + [enc[-1][3]]
        self.side = nn.ModuleList([nn.Conv2d(c, out_ch, 3, padding=1) for c in side_in])
        self.fuse = None if stem else nn.Conv2d(6 * out_ch, out_ch, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        h = self.stem(x) if self.stem is not None else x
        feats = []
        for i, block in enumerate(self.enc):
            h = block(h)
            feats.append(h)
            if i < len(self.enc) - 1:
                h = F.max_pool2d(h, 2, 2, ceil_mode=True)
        d = feats[-1]
        outs = [d]
        for i, block in enumerate(self.dec):
            skip = feats[-2 - i]
            d = block(torch.cat([_up(d, skip), skip], 1))
            outs.append(d)
        sides = [_up(conv(o), x) for conv, o in zip(self.side, reversed(outs), strict=True)]
        if self.fuse is not None:
            sides = [self.fuse(torch.cat(sides, 1)), *sides]
        return tuple(torch.sigmoid(s) for s in sides)


ARCHS = {  # catalogue name -> (builder, same-architecture models)
    "u2netp": (lambda: U2Net(small=True), ["u2netp"]),
    "u2net": (lambda: U2Net(small=False), ["u2net", "u2net_human_seg"]),
    "u2net_cloth_seg": (lambda: U2Net(small=False, out_ch=4), ["u2net_cloth_seg"]),
    "isnet-general-use": (
        lambda: U2Net(small=False, stem=True),
        ["isnet-general-use", "isnet-anime"],
    ),
}


def gmacs(net: nn.Module, size: int) -> float:
    """Multiply-accumulates of one forward pass, counted on meta tensors (nothing computed)."""
    from torch.utils.flop_counter import FlopCounterMode

    net = net.to("meta").eval()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        net(torch.empty(1, 3, size, size, device="meta"))
    return counter.get_total_flops() / 2e9


def print_macs() -> None:
    import timm

    specs = bundled_specs()
    for name, (build, models) in ARCHS.items():
        size = specs[name].input.size[0]
        print(f"{' / '.join(models)} at {size}px: {gmacs(build(), size):.1f} GMACs")
    for arch in ("swin_tiny_patch4_window7_224", "swin_large_patch4_window12_384"):
        with torch.device("meta"):
            net = timm.create_model(arch, pretrained=False, img_size=1024, window_size=8)
        print(f"{arch} backbone at 1024px: {gmacs(net, 1024):.1f} GMACs")


def conv_shapes(model: nn.Module) -> list[list[int]]:
    return [list(m.weight.shape) for m in model.modules() if isinstance(m, nn.Conv2d)]


def export(model: nn.Module, size: int, path: Path) -> None:
    model.eval()
    with torch.no_grad():
        torch.onnx.export(
            model,
            (torch.rand(1, 3, size, size),),
            str(path),
            opset_version=17,
            input_names=["input.1"],
            dynamo=False,
        )


def time_engine(spec: ModelSpec, path: Path, threads: int, runs: int) -> tuple[float, float]:
    engine = OnnxEngine(spec, path, threads=threads)
    img = np.random.default_rng(0).integers(0, 255, (768, 1024, 3), dtype=np.uint8)
    engine.predict(img)  # warm-up
    wall, cpu = [], []
    for _ in range(runs):
        t0, c0 = time.perf_counter(), time.process_time()
        engine.predict(img)
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return statistics.median(wall), statistics.median(cpu)


def swin_rows(threads: int, runs: int, tmp: Path) -> list[tuple[str, float, float, float]]:
    import timm

    rows = []
    for label, arch in [
        ("swin_tiny (birefnet-general-lite backbone)", "swin_tiny_patch4_window7_224"),
        ("swin_large (birefnet-*, bria-rmbg backbone)", "swin_large_patch4_window12_384"),
    ]:
        net = timm.create_model(arch, pretrained=False, img_size=1024, window_size=8, num_classes=0)
        path = tmp / f"{arch}.onnx"
        export(net, 1024, path)
        spec = ModelSpec(name=arch, input={"size": [1024, 1024], "scale": "max"})  # type: ignore[arg-type]
        params = sum(p.numel() for p in net.parameters()) / 1e6
        rows.append((label, params, *time_engine(spec, path, threads, runs)))
        print(f"  timed {rows[-1]}", file=sys.stderr)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--swin", action="store_true", help="also time BiRefNet's Swin backbones")
    ap.add_argument("--macs", action="store_true", help="only count GMACs (fast, no timing)")
    ap.add_argument(
        "--real-u2netp",
        type=Path,
        default=Path.home() / ".cache" / "bgbye" / "models" / "u2netp.onnx",
    )
    args = ap.parse_args()
    if args.macs:
        print_macs()
        return
    specs = bundled_specs()
    torch.manual_seed(0)
    rows: list[tuple[str, float, float, float]] = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        if args.real_u2netp.is_file():
            rows.append(
                (
                    "u2netp (real weights)",
                    1.13,
                    *time_engine(specs["u2netp"], args.real_u2netp, args.threads, args.runs),
                )
            )
            import onnx

            real = onnx.load(str(args.real_u2netp))
            inits = {i.name: list(i.dims) for i in real.graph.initializer}
            real_convs = [inits[n.input[1]] for n in real.graph.node if n.op_type == "Conv"]
            same = sorted(real_convs) == sorted(conv_shapes(U2Net(small=True)))
            print(f"rebuilt u2netp has the real graph's {len(real_convs)} conv shapes: {same}")
        for name, (build, models) in ARCHS.items():
            net = build()
            spec = specs[name]
            path = tmp / f"{name}.onnx"
            export(net, spec.input.size[0], path)
            params = sum(p.numel() for p in net.parameters()) / 1e6
            label = f"{' / '.join(models)} (rebuilt, {spec.input.size[0]}px)"
            rows.append((label, params, *time_engine(spec, path, args.threads, args.runs)))
            print(f"  timed {rows[-1]}", file=sys.stderr)  # partial results survive a kill
        if args.swin:
            try:
                rows += swin_rows(args.threads, args.runs, tmp)
            except Exception as exc:  # timm/export trouble must not lose the table above
                print(f"  swin backbones not timed: {exc}", file=sys.stderr)
    print(f"\n{args.threads} ORT threads, 1024x768 input, median of {args.runs} runs")
    print(f"| {'architecture':<52} | params (M) | wall s/image | CPU s/image |")
    print(f"|{'-' * 54}|-----------:|-------------:|------------:|")
    for label, params, wall, cpu in rows:
        print(f"| {label:<52} | {params:>10.2f} | {wall:>12.2f} | {cpu:>11.2f} |")


if __name__ == "__main__":
    main()
