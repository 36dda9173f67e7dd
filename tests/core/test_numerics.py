"""The numeric pins make a training's weights independent of the CPU's vector instructions: the
pinned process computes the same bits whatever ISA the host's oneDNN, OpenBLAS and NumPy would
pick, and without the pins (on a CPU with AVX-512) they would pick kernels that give other bits."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.core import numerics
from pipeline.core.environment import cpu_model_and_flags

ROOT = Path(__file__).resolve().parents[2]

# A short real training (the tests' tiny data, a wider net so products are big enough for the
# vector kernels to matter); prints the SHA-256 of its weights and NumPy's and OpenBLAS' choice.
SCRIPT = """
import hashlib
import pipeline  # first, as in every stage process: the pins must precede NumPy and TensorFlow
import numpy as np
from tests.helpers.training_fixtures import make_tiny_data, tiny_settings_with
from pipeline.training.loop import build_and_fit
settings = tiny_settings_with("model.hidden_units=[256,128]", "train.epochs=1", "model.dropout.rate=0.2")
data = make_tiny_data(n_train=640)
weights = build_and_fit(settings, data).model.get_weights()
x = np.random.default_rng(0).standard_normal((300, 300))
digest = hashlib.sha256(b"".join(w.tobytes() for w in weights) + (x @ x.T).tobytes()).hexdigest()
print(digest)
"""

# What a host may have set, at the top of its ISA range and at a lower one.
HIGH = {"ONEDNN_MAX_CPU_ISA": "ALL", "OPENBLAS_CORETYPE": "SkylakeX", "NPY_DISABLE_CPU_FEATURES": ""}
LOW = {"ONEDNN_MAX_CPU_ISA": "AVX2", "OPENBLAS_CORETYPE": "Haswell", "NPY_DISABLE_CPU_FEATURES": "X86_V4"}


def _digest(extra: dict[str, str]) -> str:
    env = {k: v for k, v in os.environ.items() if k not in numerics.PINS and k != numerics.UNPINNED_ENV}
    env |= extra | {"PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", SCRIPT], env=env, cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip().splitlines()[-1]


def test_apply_sets_every_pin_over_the_hosts_value_unless_unpinned():
    environ = {"OPENBLAS_CORETYPE": "SkylakeX"}
    numerics.apply(environ)
    assert environ == numerics.PINS
    unpinned = {numerics.UNPINNED_ENV: "1", "OPENBLAS_CORETYPE": "SkylakeX"}
    numerics.apply(unpinned)
    assert unpinned["OPENBLAS_CORETYPE"] == "SkylakeX" and "ONEDNN_MAX_CPU_ISA" not in unpinned


@pytest.mark.slow
def test_pinned_training_gives_the_same_bits_under_a_high_and_a_low_host_isa():
    assert _digest(HIGH) == _digest(LOW)


@pytest.mark.slow
def test_without_the_pins_an_avx512_host_computes_other_bits():
    """The test above could pass with pins that do nothing; this shows the ISA choice matters."""
    if "avx512f" not in cpu_model_and_flags()[1]:
        pytest.skip("this CPU has no AVX-512: the libraries have no wider kernel to pick")
    unpinned = {numerics.UNPINNED_ENV: "1"}
    assert _digest(unpinned | HIGH) != _digest(unpinned | LOW)
