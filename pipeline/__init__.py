"""dropout-lab: a reproducible DVC + Hydra + MLflow study of how dropout prevents overfitting."""

import os
import sys

from pipeline.core import numerics

# Before TensorFlow or NumPy load: they choose their CPU kernels once, when they start. A process
# that inherited the pins (a sweep's worker) loaded them pinned, whatever it imported first.
if {"numpy", "tensorflow"} & set(sys.modules) and not numerics.in_force():
    numerics.warn_loaded_first(sys.modules)
numerics.apply()
numerics.hush_onednn_notice()
# TensorFlow's C++ info and warning lines drown the pipeline's own logs; errors still show.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
