"""Runtime facts recorded with every result: device, versions, threads, peak memory."""

from __future__ import annotations

import platform
import resource

import numpy as np
import torch

from amips.core.envlock import lock_status


def select_device(gpus: int | float | None, prefer: str = "auto") -> str:
    """'cuda' when the job was granted a GPU (``gpus`` > 0) and CUDA is available, else 'cpu'.

    ``prefer='cpu'`` forces the CPU; ``prefer='cuda'`` without a GPU is an error.
    """
    if prefer == "cpu":
        return "cpu"
    available = torch.cuda.is_available()
    if prefer == "cuda":
        if not available:
            raise RuntimeError("device 'cuda' requested but torch.cuda.is_available() is False")
        return "cuda"
    return "cuda" if (gpus or 0) > 0 and available else "cpu"


def configure_torch(threads: int, device: str) -> None:
    """Thread count and determinism (deterministic algorithms on CPU; cuBLAS workspace config on CUDA)."""
    torch.set_num_threads(max(1, int(threads)))
    if device == "cpu":
        torch.use_deterministic_algorithms(True)


def environment_info(device: str, threads: int) -> dict[str, object]:
    """Versions (and any difference from the lock file), device name, thread count, peak CPU RSS and (CUDA) peak
    GPU memory."""
    info: dict[str, object] = {
        "device": device,
        "threads": int(threads),
        "torch_version": str(torch.__version__),
        "numpy_version": np.__version__,
        "python_version": platform.python_version(),
        "cuda_version": str(torch.version.cuda) if torch.version.cuda else None,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        # packages installed at other versions than envs/requirements.lock pins ('' = the locked environment)
        "matches_lock": lock_status()["matches_lock"],
        "lock_mismatches": "; ".join(f"{name} {v['installed']} (locked {v['locked']})"
                                     for name, v in lock_status()["mismatches"].items()),
    }
    if device.startswith("cuda"):
        info["gpu_name"] = torch.cuda.get_device_name(0)
        info["peak_gpu_memory_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return info
