"""Where tensors run: device choice, CUDA transfers and autocast, optional torch.compile."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

log = logging.getLogger(__name__)


def resolve_device(device: str | None) -> str:
    """The named device, or CUDA when there is one, else the CPU."""
    if device is None:
        return "cuda" if torch.cuda.is_available() else "cpu"
    return str(torch.device(device))


def is_cuda(device: str) -> bool:
    return device.startswith("cuda")


def autocast(device: str, *, enabled: bool = True) -> contextlib.AbstractContextManager:
    """bf16 autocast on CUDA; on the CPU float32 is both fastest and the reference."""
    if enabled and is_cuda(device):
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def to_device(tensor: torch.Tensor, device: str, *, channels_last: bool = False) -> torch.Tensor:
    """A copy on `device`; from pinned memory and non-blocking on CUDA, so copies overlap."""
    if not is_cuda(device):
        return tensor
    tensor = tensor.pin_memory().to(device, non_blocking=True)
    if channels_last and tensor.dim() == 4:
        tensor = tensor.contiguous(memory_format=torch.channels_last)
    return tensor


def prepare_module(module: nn.Module, device: str) -> nn.Module:
    """float32 weights in eval mode on `device`, channels-last on CUDA for the conv kernels."""
    # float32 whatever dtype was saved: on CUDA autocast picks bf16 per operation.
    module.to(device=device, dtype=torch.float32).eval()
    if is_cuda(device):
        module.to(memory_format=torch.channels_last)
    return module


def maybe_compile(module: nn.Module, enabled: bool, **options: Any) -> Callable[..., Any]:
    """`module` itself, or a torch.compile'd version that falls back to it if compiling fails."""
    if not enabled:
        return module
    return _CompiledWithFallback(module, **options)


class _CompiledWithFallback:
    """Compiles on first call; a machine without a working compiler toolchain runs eagerly.

    torch.compile compiles lazily, so a missing C++ compiler (CPU inductor) or an unsupported
    graph only shows on the first batch. Failing that batch would turn a speed option into an
    outage; the eager module gives the same answers.
    """

    def __init__(self, module: nn.Module, **options: Any) -> None:
        self._eager = module
        self._compiled: Callable[..., Any] | None = torch.compile(module, **options)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self._compiled is not None:
            try:
                return self._compiled(*args, **kwargs)
            except torch._dynamo.exc.TorchDynamoException as exc:
                log.warning("torch.compile failed, running %s eagerly: %s", type(self._eager), exc)
                self._compiled = None
        return self._eager(*args, **kwargs)
