"""Data: mirrors -> checksum-verified IDX files -> arrays, split and fingerprint (no TensorFlow)."""
