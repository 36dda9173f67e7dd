"""Process plumbing: how a stage was launched, its signals, its exit, the Hydra wrapper, the CLI.

No DVC stage depends on this package: none of it can change what a stage writes.
"""
