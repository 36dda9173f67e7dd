"""dropout-lab: a reproducible DVC + Hydra + MLflow study of how dropout prevents overfitting."""

import os

# TensorFlow's C++ info and warning lines drown the pipeline's own logs; errors still show.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
