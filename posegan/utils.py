"""Small shared helpers: shape checks at module boundaries, CPU thread setup."""
from __future__ import annotations

import os

import torch


def assert_shape(tensor: torch.Tensor, shape, name: str = "tensor") -> None:
    """Check ``tensor.shape`` against ``shape``, where ``None`` means any size (stylegan2 ``misc.assert_shape``)."""
    if tensor.ndim != len(shape):
        raise ValueError(f"{name}: expected {len(shape)} dims {tuple(shape)}, got shape {tuple(tensor.shape)}")
    for dim, (size, expected) in enumerate(zip(tensor.shape, shape)):
        if expected is not None and size != expected:
            raise ValueError(f"{name}: dim {dim} is {size}, expected {expected} (shape {tuple(tensor.shape)})")


def available_cores() -> int:
    """CPU cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def set_cpu_threads(threads: int = 0) -> int:
    """Use ``threads`` intra-op threads (0 = every core this process may run on); returns the number set."""
    threads = threads if threads > 0 else available_cores()
    torch.set_num_threads(threads)
    return threads
