#!/usr/bin/env python
"""Time one training step (median of K after warm-up) and report peak memory.

Methods (the library's objectives from advent.methods, in the official ADVENT order):

* ``source_only``: source forward, seg loss main + 0.1 aux, backward, SGD step.
* ``minent``: source step as above + target entropy loss (1e-3 main, 2e-4 aux), one SGD step.
* ``advent``: (1) zero grads; (2) discriminators frozen, source forward, seg loss backward;
  (3) target forward, adversarial loss (target self-information labelled *source*,
  1e-3 main / 2e-4 aux) backward through the frozen discriminators; (4) discriminators
  unfrozen, D loss on detached source I (label source) / 2 and detached target I (label
  target) / 2, backward; (5) SGD step for G, Adam steps for the Ds.

As in the official code, logits are bilinearly upsampled to the input size before the seg
loss, the entropy loss and the discriminator.

Memory: CUDA ``torch.cuda.max_memory_allocated`` over the timed steps; CPU the process's
peak resident set size (``getrusage`` ``ru_maxrss``, lifetime peak, so run one
configuration per process) next to the RSS before the first step.

On a CPU shared with other jobs, compare configurations in alternation and read the
reported load average: 2 OpenMP threads stall at every op's barrier when a core is busy.

Example::

    python scripts/benchmark_step.py --arch deeplabv2_resnet101 --method advent \\
        --size 256 512 --steps 3 --warmup 1 --channels-last --optim fused
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import sys
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Callable

import torch

from advent.methods import AdvEnt, Batch, MinEnt, Objective, SourceOnly
from advent.models import Discriminator, ModelConfig, Segmenter, build_segmenter

LAMBDA_SEG_AUX = 0.1
LAMBDA_ADV = (1e-3, 2e-4)   # main, aux
LAMBDA_ENT = (1e-3, 2e-4)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--arch", default="deeplabv2_resnet101",
                   choices=["deeplabv2_resnet101", "deeplabv2_resnet_tiny", "deeplabv2_vgg16"])
    p.add_argument("--width", type=int, default=16, help="stem width of deeplabv2_resnet_tiny")
    p.add_argument("--single-level", action="store_true", help="no aux head (implied for vgg16)")
    p.add_argument("--no-freeze-bn", action="store_true", help="train BN affine parameters")
    p.add_argument("--method", default="advent", choices=["source_only", "minent", "advent"])
    p.add_argument("--size", type=int, nargs=2, default=(256, 512), metavar=("H", "W"),
                   help="source input size (default 256 512)")
    p.add_argument("--target-size", type=int, nargs=2, default=None, metavar=("H", "W"),
                   help="target input size (default: --size)")
    p.add_argument("--batch", type=int, default=1, help="images per domain")
    p.add_argument("--num-classes", type=int, default=19)
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    p.add_argument("--channels-last", action="store_true")
    p.add_argument("--amp", default="none", choices=["none", "bf16", "fp16"])
    p.add_argument("--optim", default="forloop", choices=["forloop", "foreach", "fused"],
                   help="optimiser implementation (forloop = foreach=False)")
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--steps", type=int, default=3, help="timed steps (median reported)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch.set_num_threads (on a shared 2-core machine 1 was ~1.5-2x faster than 2)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path, default=None, help="also write the result here")
    return p.parse_args(argv)


def optim_kwargs(impl: str) -> dict[str, bool]:
    return {"forloop": {"foreach": False}, "foreach": {"foreach": True}, "fused": {"fused": True}}[impl]


def rss_mib() -> float:
    """Current resident set size (Linux /proc), MiB."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20
    except OSError:
        return float("nan")


def peak_rss_mib() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2 ** 20 if platform.system() == "Darwin" else peak / 2 ** 10  # bytes vs KiB


class Step:
    """One training iteration of the chosen method, callable repeatedly: the library's
    objective (advent.methods) does the losses and backward passes, as in the loop."""

    def __init__(self, args: argparse.Namespace, device: torch.device) -> None:
        self.args, self.device = args, device
        multi = not args.single_level and args.arch != "deeplabv2_vgg16"
        cfg = ModelConfig(arch=args.arch, multi_level=multi, width=args.width,
                          preprocessing="caffe_bgr", freeze_bn_affine=not args.no_freeze_bn)
        self.seg: Segmenter = build_segmenter(cfg, args.num_classes).to(device).train()
        self.fmt = torch.channels_last if args.channels_last else torch.contiguous_format
        self.seg.to(memory_format=self.fmt)
        kw = optim_kwargs(args.optim)
        backbone, heads = self.seg.param_groups()
        lr = 2.5e-4
        self.opt_g = torch.optim.SGD([{"params": backbone, "lr": lr}, {"params": heads, "lr": 10 * lr}],
                                     lr=lr, momentum=0.9, weight_decay=5e-4, **kw)
        if args.method == "advent":
            make_d = lambda: Discriminator(args.num_classes).to(device).train()  # noqa: E731
            self.objective: Objective = AdvEnt(make_d(), make_d() if multi else None, *LAMBDA_ADV,
                                               lambda_seg_aux=LAMBDA_SEG_AUX)
        elif args.method == "minent":
            self.objective = MinEnt(*LAMBDA_ENT, lambda_seg_aux=LAMBDA_SEG_AUX)
        else:
            self.objective = SourceOnly(LAMBDA_SEG_AUX)
        self.opt_d = [torch.optim.Adam(d.parameters(), lr=1e-4, betas=(0.9, 0.99), **kw)
                      for d in self.objective.modules_to_train().values()]
        amp_dtype = {"none": None, "bf16": torch.bfloat16, "fp16": torch.float16}[args.amp]
        self.autocast: Callable[[], object] = (
            (lambda: torch.autocast(device.type, dtype=amp_dtype)) if amp_dtype else nullcontext)
        self.scaler = torch.amp.GradScaler(device.type, enabled=args.amp == "fp16")
        g = torch.Generator().manual_seed(args.seed)
        n, (h, w) = args.batch, args.size
        th, tw = args.target_size or args.size
        src = torch.randint(0, 256, (n, 3, h, w), dtype=torch.uint8, generator=g)
        tgt = torch.randint(0, 256, (n, 3, th, tw), dtype=torch.uint8, generator=g)
        labels = torch.randint(0, args.num_classes, (n, h, w), generator=g)
        labels[:, : h // 8] = 255  # some ignored pixels, as real labels have
        self.source = Batch(src.to(device).contiguous(memory_format=self.fmt), labels.to(device))
        self.target = Batch(tgt.to(device).contiguous(memory_format=self.fmt))

    def __call__(self) -> None:
        for opt in [self.opt_g, *self.opt_d]:
            opt.zero_grad(set_to_none=True)
        with self.autocast():
            self.objective.backward(self.seg, self.source, self.target,
                                    lambda loss: self.scaler.scale(loss).backward())
        for opt in [self.opt_g, *self.opt_d]:  # G, then the discriminators
            self.scaler.step(opt)
        self.scaler.update()


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    step = Step(args, device)
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    rss_before = rss_mib()
    for _ in range(args.warmup):
        step()
    sync()
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)
    times = []
    for _ in range(args.steps):
        t0 = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - t0)
    result = {
        "arch": args.arch, "method": args.method, "multi_level": step.seg.multi_level,
        "size": list(args.size), "target_size": list(args.target_size or args.size), "batch": args.batch,
        "device": str(device), "channels_last": args.channels_last, "amp": args.amp, "optim": args.optim,
        "threads": torch.get_num_threads(), "warmup": args.warmup,
        "steps": args.steps, "step_s_median": statistics.median(times), "step_s_all": times,
        "torch": torch.__version__, "loadavg_1m": os.getloadavg()[0],
    }
    if cuda:
        result["peak_mem_mib"] = torch.cuda.max_memory_allocated(device) / 2 ** 20
        result["gpu"] = torch.cuda.get_device_name(device)
    else:
        result["rss_before_steps_mib"] = rss_before
        result["peak_rss_mib"] = peak_rss_mib()
    mem = (f"peak CUDA alloc {result['peak_mem_mib']:.0f} MiB" if cuda else
           f"peak RSS {result['peak_rss_mib']:.0f} MiB (before steps {rss_before:.0f} MiB)")
    print(f"{args.arch} {args.method} {args.size[0]}x{args.size[1]} on {device} "
          f"[channels_last={args.channels_last} amp={args.amp} optim={args.optim} "
          f"threads={result['threads']}]: median step {result['step_s_median']:.3f} s over {args.steps} "
          f"(all: {', '.join(f'{t:.3f}' for t in times)}); {mem}; load avg {result['loadavg_1m']:.2f}")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
