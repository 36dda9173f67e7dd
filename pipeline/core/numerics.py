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

import os
import warnings
from collections.abc import Mapping, MutableMapping

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
