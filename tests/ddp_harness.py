#!/usr/bin/env python
"""DDP test harness: the tiny DeepLab-v2 trained by :func:`advent.train.train` on a
synthetic in-memory dataset, printing the loss of every iteration on rank 0
(``tests/test_ddp.py`` launches it; it can be run by hand the same way).

Launch it the way training is launched (one process per device; on CPU the loop
joins a gloo process group, each worker uses one thread)::

    torchrun --nproc_per_node 2 tests/ddp_harness.py --method source_only advent --iterations 5
    torchrun --nproc_per_node 2 --master_addr 127.0.0.1 --master_port 29517 \\
        tests/ddp_harness.py --method advent --iterations 5 --out /tmp/ddp_harness
    python tests/ddp_harness.py --method advent --iterations 5 --grad-accum 2   # 1 process, same batch

``--batch-size`` is the *global* batch (split over processes and accumulation steps),
so the three commands above see the same samples in every iteration.

Each ``--method`` entry is trained in turn inside the same process group; an entry is
``METHOD`` or ``METHOD@LABEL`` (LABEL names its files, so one launch can train a method
twice). Methods: ``source_only``, ``advent`` (two discriminators, ndf 8, 3 layers),
``advent_unseeded`` (AdvEnt whose discriminators start from a different seed on each
rank, as they do when a caller builds them without seeding; the loop should make
them equal) and ``source_only_no_aux`` (lambda_seg_aux 0: the auxiliary head is in the
model but in no loss, which DDP must tolerate).

With ``--out DIR`` rank 0 writes ``DIR/<LABEL>.pt`` (a torch file read by
``tests/test_ddp.py``): the loop's ``log`` calls on rank 0, every rank's per-micro-step
losses and their all-rank mean per iteration (``global``), rank 0's initial and final
weights of the segmenter and the discriminators, the largest parameter difference
between ranks, and which ranks wrote the checkpoint ``DIR/<LABEL>.ckpt.pt`` at which
iteration (``--checkpoint-every``). A run resumes from that checkpoint when it is there
with the same configuration, as the loop does (the iteration count is not part of the
configuration; ``--schedule-iterations`` is). ``--keep-going`` records a failed entry's
error instead (``DIR/<LABEL>.pt`` = ``{"label", "error"}``) and trains the next one.

``--probe-sync-bn`` records whether ``nn.SyncBatchNorm`` runs on this device in the
process group (``DIR/sync_bn_probe.txt``: ``ok``, ``not tested`` or the error).
"""
from __future__ import annotations

import argparse
import hashlib
import os
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import Dataset

from advent.methods import AdvEnt, Objective, SourceOnly
from advent.models import Discriminator, build_segmenter
from advent.params import ModelConfig, TrainConfig
from advent.train import TrainObserver, train

NUM_CLASSES = 5
METHODS = ("source_only", "advent", "advent_unseeded", "source_only_no_aux")


class SyntheticSegmentation(Dataset):
    """``n`` random RGB images (3, size, size) uint8 made of 8 x 8 blocks, whose label is
    a function of the red channel (so the loss can go down), top two rows ignored (255).

    Items are ``(image, label, index)`` like :class:`advent.data.prepared.PreparedDataset`.
    """

    def __init__(self, n: int = 12, size: int = 32, seed: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)
        # 8 x 8 blocks of one colour: the stride-8 network can resolve them.
        blocks = torch.randint(0, 256, (n, 3, -(-size // 8), -(-size // 8)), dtype=torch.uint8, generator=g)
        self.images = blocks.repeat_interleave(8, 2).repeat_interleave(8, 3)[..., :size, :size].contiguous()
        self.labels = (self.images[:, 0].long() * NUM_CLASSES // 256).clamp(max=NUM_CLASSES - 1)
        self.labels[:, :2] = 255

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        return self.images[i], self.labels[i], i


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--method", nargs="+", default=["advent"], metavar="METHOD[@LABEL]",
                   help=f"one or more of {', '.join(METHODS)} (default: advent)")
    p.add_argument("--iterations", type=int, default=5)
    p.add_argument("--schedule-iterations", type=int, default=0,
                   help="poly schedule length (default: --iterations); fix it to resume a longer run")
    p.add_argument("--batch-size", type=int, default=4, help="global batch per optimiser step")
    p.add_argument("--grad-accum", type=int, default=1)
    p.add_argument("--lr", type=float, default=1e-3, help="backbone rate (heads x10)")
    p.add_argument("--lr-d", type=float, default=1e-3)
    p.add_argument("--lambda-adv", type=float, default=0.05, help="AdvEnt main level (aux: / 5)")
    p.add_argument("--width", type=int, default=4, help="stem channels of the tiny ResNet")
    p.add_argument("--size", type=int, default=32, help="image side")
    p.add_argument("--samples", type=int, default=12, help="images per domain")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--sync-bn", action="store_true")
    p.add_argument("--precision", choices=("fp32", "bf16", "fp16"), default="fp32",
                   help="fp16 (loss scaling) needs CUDA")
    p.add_argument("--channels-last", action="store_true")
    p.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    p.add_argument("--threads", type=int, default=1, help="torch threads per process")
    p.add_argument("--checkpoint-every", type=int, default=0, help="0: no checkpoint")
    p.add_argument("--out", type=Path, help="folder for rank 0's result files")
    p.add_argument("--probe-sync-bn", action="store_true")
    p.add_argument("--keep-going", action="store_true",
                   help="record a failed entry's error and train the next (put such entries last)")
    args = p.parse_args(argv)
    for entry in args.method:
        if entry.partition("@")[0] not in METHODS:
            p.error(f"unknown method in {entry!r}; choose from {', '.join(METHODS)}")
    return args


def _rank_world() -> tuple[int, int]:
    if dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _gather(obj):
    """Every rank's ``obj`` as a list (rank order); ``[obj]`` without a process group."""
    if not dist.is_initialized():
        return [obj]
    out = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def _max_rank_difference(params: list[dict[str, torch.Tensor]]) -> float:
    """Largest |a - b| between rank 0's tensors and any other rank's."""
    worst = 0.0
    for other in params[1:]:
        for k, v in params[0].items():
            worst = max(worst, (v - other[k]).abs().max().item())
    return worst


def _state(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}


def _params(module: nn.Module) -> dict[str, torch.Tensor]:
    # Parameters only: BatchNorm running statistics are per rank under DDP by design.
    return {k: v.detach().cpu().clone() for k, v in module.named_parameters()}


def build(method: str, args: argparse.Namespace, rank: int) -> tuple[nn.Module, Objective]:
    """Seeded tiny segmenter and the method's objective (discriminators: ndf 8, 3 layers)."""
    torch.manual_seed(args.seed)
    segmenter = build_segmenter(ModelConfig(width=args.width), NUM_CLASSES)
    if method == "source_only":
        return segmenter, SourceOnly()
    if method == "source_only_no_aux":
        return segmenter, SourceOnly(lambda_seg_aux=0.0)
    torch.manual_seed(args.seed + 1 + (1000 * rank if method == "advent_unseeded" else 0))
    objective = AdvEnt(Discriminator(NUM_CLASSES, 8, 3), Discriminator(NUM_CLASSES, 8, 3),
                       args.lambda_adv, args.lambda_adv / 5)
    return segmenter, objective


def run(entry: str, args: argparse.Namespace) -> dict:
    """Train ``METHOD[@LABEL]`` once with :func:`advent.train.train`; the result record
    (see the module docstring), complete on rank 0. Must be called on every rank."""
    method, _, label = entry.partition("@")
    label = label or method
    rank, _ = _rank_world()
    segmenter, objective = build(method, args, rank)
    init = _state(segmenter)
    init_modules = {n: _state(m) for n, m in objective.modules_to_train().items()}
    cfg = TrainConfig(seed=args.seed, device=args.device, batch_size=args.batch_size, lr=args.lr,
                      lr_d=args.lr_d, grad_accum=args.grad_accum, sync_bn=args.sync_bn,
                      precision=args.precision, channels_last=args.channels_last,
                      schedule_iterations=args.schedule_iterations or args.iterations,
                      checkpoint_every=args.checkpoint_every or 10**9, log_every=1)

    # Every rank's own losses, per micro-step (the loop logs rank 0's alone), and which
    # rank writes the checkpoint at which step (rank 0 alone should).
    micro: list[dict[str, float]] = []
    writes: list[int] = []

    class Recorder(TrainObserver):
        def micro_step(self, step: int, losses: dict[str, float]) -> None:
            micro.append(dict(losses))

        def checkpoint_written(self, step: int, path: Path) -> None:
            writes.append(step)

    logged: list[tuple[int, dict[str, float]]] = []

    def log(step: int, values: dict[str, float]) -> None:
        logged.append((step, dict(values)))
        print(f"[{label}] iteration {step}: " + " ".join(
            f"{k}={v:.5f}" for k, v in values.items() if k != "lr"), flush=True)

    checkpoint = None
    if args.checkpoint_every:
        if args.out is None:
            raise SystemExit("--checkpoint-every needs --out")
        checkpoint = args.out / f"{label}.ckpt.pt"
    fingerprint = hashlib.sha256(repr((method, args.batch_size, args.lr, args.lr_d, args.lambda_adv,
                                       args.seed, cfg.schedule_iterations, args.width, args.size,
                                       args.samples)).encode()).hexdigest()
    source = SyntheticSegmentation(args.samples, args.size, seed=args.seed)
    target = SyntheticSegmentation(args.samples, args.size, seed=args.seed + 1)
    trained = train(segmenter, objective, source, target if objective.needs_target else None,
                    cfg, args.iterations, checkpoint_path=checkpoint, fingerprint=fingerprint,
                    log=log, observer=Recorder())

    modules = {n: _state(m) for n, m in objective.modules_to_train().items()}
    final = _state(trained)
    per_rank = _gather({"micro": micro, "writes": writes, "logs": len(logged),
                        "segmenter": _params(trained), "modules": modules})
    accum = args.grad_accum
    steps = len(micro) // accum
    global_curve = []
    for s in range(steps):
        values = [v for r in per_rank for v in r["micro"][s * accum:(s + 1) * accum]]
        global_curve.append({k: sum(v[k] for v in values) / len(values) for k in values[0]})
    return {
        "method": method, "label": label, "world": len(per_rank), "grad_accum": accum,
        "log": logged, "log_calls": [r["logs"] for r in per_rank],
        "micro": [r["micro"] for r in per_rank], "global": global_curve,
        "writes": [r["writes"] for r in per_rank],
        "init": init, "segmenter": final, "init_modules": init_modules, "modules": modules,
        "segmenter_rank_diff": _max_rank_difference([r["segmenter"] for r in per_rank]),
        "modules_rank_diff": max([_max_rank_difference([r["modules"][n] for r in per_rank])
                                  for n in modules] or [0.0]),
    }


def probe_sync_bn(device: str) -> str:
    """'ok' if a SyncBatchNorm forward/backward in train mode runs in this process group."""
    if not dist.is_initialized() or dist.get_world_size() < 2:
        return "not tested: needs a process group of 2 or more"
    try:
        bn = nn.SyncBatchNorm(3).to(device).train()
        x = torch.randn(2, 3, 4, 4, device=device, requires_grad=True)
        bn(x).sum().backward()
        return "ok"
    except Exception as err:  # noqa: BLE001 - the message is the finding
        return f"{type(err).__name__}: {err}"


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    rank = int(os.environ.get("RANK", "0"))
    if args.out is not None and rank == 0:
        args.out.mkdir(parents=True, exist_ok=True)
    for entry in args.method:
        try:
            result = run(entry, args)
        except Exception as err:
            if not args.keep_going:
                raise
            # Both ranks fail alike in the cases this is for (a DDP error at the same step).
            result = {"label": entry.partition("@")[2] or entry, "error": f"{type(err).__name__}: {err}"}
            print(f"[{result['label']}] failed: {result['error']}", flush=True)
        label = result["label"]
        if rank == 0:
            if result.get("world", 1) > 1:
                # log_every=1; a resumed run's log opens with the records it replays.
                steps = [step for step, _ in result["log"]][-len(result["global"]):]
                for step, values in zip(steps, result["global"]):
                    print(f"[{label}] iteration {step} (mean of {result['world']} ranks): " + " ".join(
                        f"{k}={v:.5f}" for k, v in values.items()), flush=True)
            if args.out is not None:
                torch.save(result, args.out / f"{label}.pt")
    if args.probe_sync_bn:
        verdict = probe_sync_bn(args.device)
        if rank == 0:
            print(f"SyncBatchNorm on {args.device}: {verdict}", flush=True)
            if args.out is not None:
                (args.out / "sync_bn_probe.txt").write_text(verdict)
    if dist.is_initialized():
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
