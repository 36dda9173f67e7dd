"""The model: the MLP builder, dropout from scratch (NumPy and Keras), input scaling, byte-stable files."""
