"""Where a process runs: its device, its rank under ``torchrun``, its seeds and the
float arithmetic it uses (thread count, CPU kernel set).

Kept apart from the training loop so that inference (evaluation, pseudo-labels,
predict) uses the same device rules without importing the loop.
"""
from __future__ import annotations

import os
import platform
import random

import numpy as np
import torch
import torch.distributed as dist


def dist_world_size() -> int:
    """Processes in this ``torchrun`` job (1 without one)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def resolve_device(name: str) -> torch.device:
    """'auto' -> cuda (this process's local rank) when available, else cpu."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and dist_world_size() > 1:
        name = f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}"
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"train.device is {name!r} but CUDA is not available")
    return device


def init_distributed(device: torch.device) -> tuple[int, int]:
    """Join the process group that ``torchrun`` describes; (rank, world_size)."""
    world = dist_world_size()
    if world == 1:
        return 0, 1
    if not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return dist.get_rank(), world


def is_main_process() -> bool:
    """Rank 0 under ``torchrun`` (the process that writes), or the only process."""
    return not dist.is_initialized() or dist.get_rank() == 0


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


#: oneDNN's name for the ISA of each ATen kernel set (convolutions run in oneDNN).
_ONEDNN_ISA = {"avx512": "AVX512_CORE", "avx2": "AVX2", "default": "SSE41"}


def apply_float_setting(threads: int, cpu_capability: str) -> None:
    """Fix this process's CPU float arithmetic: ``threads`` (0 = torch's default) and the
    kernel set (``native`` or one of avx512, avx2, default).

    Must run before the first tensor operation: torch picks its kernels once, at the
    first use. Raises when the kernel set in use is not the one asked for (an operation
    ran earlier, or this CPU lacks the instructions).
    """
    if threads:
        torch.set_num_threads(threads)
    if cpu_capability == "native":
        return
    os.environ["ATEN_CPU_CAPABILITY"] = cpu_capability
    os.environ["ONEDNN_MAX_CPU_ISA"] = _ONEDNN_ISA[cpu_capability]
    in_use = torch.backends.cpu.get_cpu_capability().lower()
    if in_use != cpu_capability:
        raise RuntimeError(f"train.cpu_capability is {cpu_capability} but torch runs {in_use} "
                           f"kernels (this CPU lacks them, or a tensor operation ran before "
                           f"the setting)")


def cpu_name() -> str:
    """The CPU's model name (``/proc/cpuinfo``), or what ``platform`` knows."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def float_setting() -> dict:
    """What decides this process's float arithmetic, as measured (not as configured):
    torch's thread count, the ATen CPU kernel set, the CPU, the torch version.

    Plain built-in types only: model files embed it and are read with ``weights_only=True``,
    which refuses ``torch.__version__``'s own class.
    """
    return {"threads": torch.get_num_threads(),
            "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "cpu": cpu_name(), "torch": str(torch.__version__)}
