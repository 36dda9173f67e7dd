"""Numeric pins: the environment every process that trains or evaluates runs in, so the numbers
are the same on every x86-64 CPU with AVX2 and FMA.

oneDNN (TensorFlow's matrix products), OpenBLAS and NumPy each pick their kernels at run time by
the CPU's vector instructions, and wider vectors (AVX-512) sum in another order, which changes the
last digits and, over thousands of steps, the third. Each library reads its pin when it loads, so
`apply` runs in `pipeline/__init__.py`, before anything imports TensorFlow or NumPy.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, MutableMapping

# The library reads each at load time; AVX2 is the widest every supported CPU has.
PINS: dict[str, str] = {
    "ONEDNN_MAX_CPU_ISA": "AVX2",
    "TF_ENABLE_ONEDNN_OPTS": "0",
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
