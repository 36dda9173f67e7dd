"""Numeric pins: the environment every process that trains or evaluates runs in, so its numbers
depend on the code, the lock, the config and the seed, not on the CPU it happens to run on.

TensorFlow's matrix products go through oneDNN, which picks kernels by the CPU's vector
instructions (AVX-512 sums in another order than AVX2). Without its custom ops (TensorFlow's
default on CPUs without AVX-512 VNNI or AMX) TensorFlow cuts each product into blocks sized from
the CPU's cache sizes before handing them to oneDNN, so even the AVX2 kernels sum in a
cache-dependent order. The pins send every product straight to oneDNN, capped at AVX2 (the widest
instruction set every supported CPU has). NumPy and OpenBLAS dispatch by CPU too (the metrics use
them). Each library reads its pin when it loads, so `apply` runs in `pipeline/__init__.py`, before
anything imports TensorFlow or NumPy.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import os
import sys
import tempfile
import warnings
from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from contextlib import contextmanager
from importlib.machinery import ModuleSpec
from types import ModuleType

PINS: dict[str, str] = {
    "TF_ENABLE_ONEDNN_OPTS": "1",
    "ONEDNN_MAX_CPU_ISA": "AVX2",
    "OPENBLAS_CORETYPE": "Haswell",
    "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR",
}
# Set to 1 to leave the libraries' own choice (faster on AVX-512; other digits, not reproducible).
UNPINNED_ENV = "DROPOUT_LAB_UNPINNED"


def apply(environ: MutableMapping[str, str] = os.environ) -> None:
    """Set every pin (overriding a value the host set), unless the user asked for none."""
    if environ.get(UNPINNED_ENV) == "1":
        return
    environ.update(PINS)


def in_force(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether this process started with every pin set (inherited from a pinned parent, say)."""
    return all(environ.get(key) == value for key, value in PINS.items())


def pins_in_force(environ: MutableMapping[str, str] = os.environ) -> dict[str, str]:
    return {key: environ[key] for key in PINS if key in environ}


def warn_loaded_first(modules: Mapping[str, object]) -> None:
    """NumPy or TensorFlow loaded before `pipeline` (a notebook's first cell, say) chose its kernels
    unpinned: the numbers may differ from the pipeline's in the last digits."""
    loaded = sorted(name for name in ("numpy", "tensorflow") if name in modules)
    warnings.warn(
        f"{' and '.join(loaded)} loaded before pipeline: its CPU kernels are not pinned; import "
        "pipeline first for the reproducible numbers (see docs/reproducibility.md)",
        stacklevel=3,
    )


# What TensorFlow writes to stderr when it loads: that the oneDNN ops pinned above are on, with a
# warning about round-off that the pins make moot, twice (two of its libraries log it). It goes
# through absl's log before absl is set up, which no setting reaches (TF_CPP_MIN_LOG_LEVEL,
# set in `pipeline/__init__.py`, silences its other start-up lines), and turning the ops off would
# change the numbers.
ONEDNN_NOTICE = (b"oneDNN custom operations are on", b"All log messages before absl::InitializeLog()")


def hush_onednn_notice() -> None:
    """Let the first `import tensorflow` of this process run with ONEDNN_NOTICE kept out of stderr
    (everything else it writes there passes, after the import)."""
    if not any(isinstance(finder, _QuietTensorFlow) for finder in sys.meta_path):
        sys.meta_path.insert(0, _QuietTensorFlow())


class _QuietTensorFlow(importlib.abc.MetaPathFinder):
    """Finds `tensorflow` as the other finders do, and runs its module with stderr filtered."""

    def find_spec(
        self, name: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if name != "tensorflow":
            return None
        sys.meta_path.remove(self)  # once: TensorFlow loads once per process
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        run = spec.loader.exec_module

        def exec_module(module: ModuleType) -> None:
            with stderr_without(ONEDNN_NOTICE):
                run(module)

        spec.loader.exec_module = exec_module  # type: ignore[method-assign]  # this spec's own loader
        return spec


@contextmanager
def stderr_without(noise: Sequence[bytes]) -> Iterator[None]:
    """Capture file descriptor 2 (what C++ libraries write too) for the block; then write back every
    line that contains none of `noise`."""
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no stderr to filter
        yield
        return
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            kept = [line for line in captured.read().splitlines(keepends=True) if not _any_in(noise, line)]
            with open(2, "wb", closefd=False) as stderr:
                stderr.write(b"".join(kept))


def _any_in(parts: Sequence[bytes], line: bytes) -> bool:
    return any(part in line for part in parts)
