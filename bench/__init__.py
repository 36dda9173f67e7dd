"""Speed and memory benchmarks, one module each, run as `python -m bench.<name>` (`python -m bench`: a list).

Every benchmark is built on `bench.harness`: the common flags, a throw-away workspace with MNIST,
whole commands timed (wall time, peak RSS), contenders alternated in one run, a ratio table.
`bench.seed_loop` is not a benchmark but the baseline they run: it imports nothing of the project.
"""
