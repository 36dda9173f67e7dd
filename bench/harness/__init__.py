"""What every benchmark shares, one module a job: a benchmark is a function of a `Session`, made a
command by `session.benchmark`, which parses the common flags (`flags`), runs the benchmark's own
child process when called as one, prints the machine at the start and the end, and hands the
function a throw-away project with MNIST (`workspace`). Contenders are whole commands timed and
alternated round by round (`children`); their results go into a ratio table (`tables`). Trainings
timed from the inside share `fit`. Nothing here asserts a target: `tables.within` prints PASS or FAIL.
"""

import pipeline  # noqa: F401  (first: its numeric pins must precede NumPy's start, as in every stage)
