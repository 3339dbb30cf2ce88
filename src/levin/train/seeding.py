"""One seeding function for the CLI and the Python API, so that both give the same bytes.

Read me first. What levin guarantees (README, "Determinism"): the same levin version, the same
seed, the same data and the same platform (CPU, torch and numpy builds) give the same .lvn bytes,
however many cores the machine has and whatever thread count the caller set. Two things make it so:

- the seed: torch's global generator is seeded before a model is built (its initial weights are
  part of the run) and again before the work starts; the training loop derives every step's
  randomness from (seed, epoch, step), and numpy code uses its own seeded Generators;
- the thread count: torch's CPU kernels (MKL's sgemm, oneDNN's convolution gradients) split their
  reductions by thread, so 1 and 2 threads give float sums that differ in the last bit, which a
  pruning threshold or a k-means assignment turns into different bytes (measured: 1,843 B vs
  1,844 B for `levin compress --model digits_cnn --recipe digits`). Inside `deterministic()` torch
  (and numpy's BLAS) run on a fixed number of threads, THREADS unless the caller names another;
  a run with another count is reproducible at that count only.
"""

from __future__ import annotations

from contextlib import ExitStack, contextmanager
from typing import Iterator

THREADS = 1          # the thread count of the deterministic region unless one is named
_pinned: list[int] = []   # thread counts of the regions entered (innermost last)


def seed_all(seed: int) -> None:
    """Seed torch's global generator (the initial weights of a model built next, dropout)."""
    import torch

    torch.manual_seed(seed)


def region_threads(threads: int | None = None) -> int:
    """The thread count a region runs on: `threads`, else the enclosing region's, else THREADS."""
    return threads or (_pinned[-1] if _pinned else THREADS)


@contextmanager
def deterministic(seed: int | None = 0, threads: int | None = None) -> Iterator[None]:
    """Run the block seeded by `seed` (None: leave the generators as they are) on a fixed number
    of threads (`threads`; default: the enclosing region's, else THREADS). On exit the caller's
    thread count and torch's generator state are restored, so calling levin's API from a program
    does not disturb that program's own random stream.

    Raises:
        ValueError: `seed` < 0 or `threads` < 1.
    """
    import torch

    if seed is not None and seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    if threads is not None and threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    n = region_threads(threads)
    before = torch.get_num_threads()
    with ExitStack() as stack:
        stack.enter_context(torch.random.fork_rng(devices=[]))
        stack.enter_context(_blas_threads(n))
        torch.set_num_threads(n)
        _pinned.append(n)
        try:
            if seed is not None:
                seed_all(seed)
            yield
        finally:
            _pinned.pop()
            torch.set_num_threads(before)


@contextmanager
def _blas_threads(n: int) -> Iterator[None]:
    """numpy's BLAS on `n` threads too (its float matmuls also split their sums by thread)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:                   # optional: levin's numpy code is integer or 1-D
        yield
        return
    with threadpool_limits(limits=n, user_api="blas"):
        yield
