"""The generator under ``torch.compile`` (inductor, CPU) with frozen weights: the fast inference path (issue #14).

    compiled = CompiledGenerator(generator, example_inputs(128, 64))  # compiles in a background thread
    out = compiled(*inputs)     # the compiled graph once ready and for the example's shapes, the eager generator else
    compiled.wait()             # block until compiled (benchmarks, tests); compiled.seconds: how long it took

Why frozen weights (``torch._inductor.config.freezing``): inductor then takes the weights as constants and packs
them once into oneDNN's blocked layouts, where eager reorders every convolution's weight on every call. Without
freezing the compiled small generator was no faster than eager (23.1 vs 21.1 ms, batch 1, 1 thread); with it,
1.3x faster (15.6 vs 20.1 ms). Inductor's own grid sampling (gathers fused with the masking and the max over parts)
is kept: aten's kernel in its place measured slower in the whole graph (16.6 ms). The weights are a snapshot: a
generator compiled here must not be trained or reloaded afterwards (:class:`~posegan.inference.PoseTransfer` never
does).

Why in the background: compiling takes 20-60 s (small generator, one core). An app must answer at once, so calls run
eager until the compiled graph is ready; both give the same image within float rounding (about 3e-6). Meanwhile the
eager calls share the interpreter with the compilation (tracing and lowering are Python): 76 ms median per image
(p90 113 ms, one stall of 2.3 s) against 25 ms alone, during a 40 s compilation (1 thread, loaded machine).

Why only the example's shapes: ``dynamic=False`` gives the fastest code, one graph per input shape and skip kind,
each its own compilation of 20-60 s. Any other call (another batch size, the plain skips the app compares with)
runs eager rather than wait for a new compilation.
"""
from __future__ import annotations

import logging
import threading
import time

import torch

from .geometry import NUM_PARTS
from .keypoints import NUM_JOINTS
from .networks import Generator

log = logging.getLogger(__name__)


def example_inputs(height: int, width: int, batch_size: int = 1) -> list[torch.Tensor]:
    """Generator inputs of the right shapes (identity affines, every part valid): what a compilation traces.

    The compiled graph has no data-dependent branches, so the values do not matter, only the shapes."""
    affines = torch.eye(2, 3).expand(batch_size, NUM_PARTS, 2, 3).contiguous()
    return [torch.zeros(batch_size, 3, height, width), torch.zeros(batch_size, NUM_JOINTS, height, width),
            torch.zeros(batch_size, NUM_JOINTS, height, width), affines,
            torch.ones(batch_size, NUM_PARTS, height, width)]


class CompiledGenerator:
    """``generator`` compiled for the shapes of ``inputs`` and its configured skips, the eager generator otherwise.

    Compiles in a daemon thread (``background``) or at once. A failed compilation (e.g. no C++ compiler on the host)
    is logged and leaves the eager generator in place: slower, never wrong."""

    def __init__(self, generator: Generator, inputs: list[torch.Tensor], background: bool = True):
        self.generator = generator.eval()
        self.shapes = [tuple(x.shape) for x in inputs]
        self.seconds: float | None = None   # compilation time, once compiled
        self.error: Exception | None = None
        self._compiled = torch.compile(generator, dynamic=False)
        self._done = threading.Event()
        if background:
            threading.Thread(target=self._compile, args=(inputs,), name="compile-generator", daemon=True).start()
        else:
            self._compile(inputs)

    @property
    def ready(self) -> bool:
        return self._done.is_set() and self.error is None

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the compilation has finished (or ``timeout`` seconds); True when the compiled graph is used."""
        self._done.wait(timeout)
        return self.ready

    def _compile(self, inputs: list[torch.Tensor]) -> None:
        import torch._inductor.config  # here: importing inductor takes seconds, which only a compilation needs
        start = time.perf_counter()
        try:
            # Freezing is read while dynamo traces, which is this first call (compile options come too late for it).
            with torch.inference_mode(), torch._inductor.config.patch(freezing=True):
                self._compiled(*inputs)
            self.seconds = time.perf_counter() - start
            log.info("generator compiled in %.1f s for inputs %s", self.seconds, self.shapes)
        except Exception as exc:  # noqa: BLE001  (any compiler failure: eager stays, the reason is logged)
            self.error = exc
            log.warning("generator compilation failed, running eager: %s", exc)
        finally:
            self._done.set()

    def __call__(self, *inputs: torch.Tensor, deformable: bool | None = None):
        """The generator's output for ``inputs``: compiled when ready, for the compiled shapes and skip kind (frozen
        weights only hold without autograd), eager otherwise."""
        skips_as_compiled = deformable is None or deformable == self.generator.cfg.deformable_skips
        if (self.ready and skips_as_compiled and not torch.is_grad_enabled()
                and [tuple(x.shape) for x in inputs] == self.shapes):
            return self._compiled(*inputs)
        return self.generator(*inputs, deformable=deformable)
