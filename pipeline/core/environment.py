"""What a run's numbers depend on beyond its config and seed: the locked packages, the Python and
library versions, the CPU and its vector instructions, and the numeric pins in force.

Recorded on every MLflow run (never in DVC outputs, which must be the same bytes on every machine),
so a comparison can say when its runs come from different environments.
"""

from __future__ import annotations

import hashlib
import platform
from collections.abc import Mapping, Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from pipeline.core.numerics import PINS, pins_in_force
from pipeline.core.paths import CONF_DIR

LOCK_FILE = CONF_DIR.parent / "uv.lock"  # the lock of the code that runs

# The instruction sets that change which kernels oneDNN, OpenBLAS and NumPy pick.
ISA_FLAGS = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile")
PACKAGES = ("tensorflow-cpu", "tensorflow", "keras", "numpy", "mlflow", "dvc")


def lock_hash(lock_file: Path) -> str:
    """First 16 hex digits of the lock's SHA-256, or "none" where the checkout has no lock."""
    if not lock_file.is_file():
        return "none"
    return hashlib.sha256(lock_file.read_bytes()).hexdigest()[:16]


def cpu_model_and_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> tuple[str, list[str]]:
    """The CPU's model name and which of ISA_FLAGS it has (Linux; elsewhere the platform's name)."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return platform.processor() or platform.machine(), []
    model, flags = platform.machine(), set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name":
            model = value.strip()
        elif key.strip() == "flags":
            flags = set(value.split())
            break
    return model, [flag for flag in ISA_FLAGS if flag in flags]


def package_versions() -> dict[str, str]:
    found = {}
    for name in PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found


def describe(lock_file: Path = LOCK_FILE) -> dict[str, str]:
    """The environment as flat strings (MLflow tag values)."""
    model, flags = cpu_model_and_flags()
    pins = pins_in_force()
    return {
        "lock": lock_hash(lock_file),
        "python": platform.python_version(),
        **{f"version.{name}": value for name, value in package_versions().items()},
        "cpu": model,
        "isa": " ".join(flags) or "unknown",
        "pins": " ".join(f"{key}={pins.get(key, '')}" for key in PINS),
    }


def differences(environments: Sequence[Mapping[str, str]]) -> dict[str, list[str]]:
    """The keys whose values differ between environments, with every value seen (in order)."""
    keys = sorted({key for env in environments for key in env})
    seen = {key: list(dict.fromkeys(env.get(key, "(none)") for env in environments)) for key in keys}
    return {key: values for key, values in seen.items() if len(values) > 1}


def as_json(environment: Mapping[str, str]) -> str:
    """The environment as `environment.json` holds it: sorted keys, one per line."""
    import json

    return json.dumps(dict(environment), indent=2, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    """`python -m pipeline.core.environment [--write FILE]`: this environment as JSON (what `make run`
    records beside the results it made, and what CI prints when its results differ)."""
    import argparse
    import json

    from pipeline.core.atomic import write_text_atomic

    parser = argparse.ArgumentParser(prog="python -m pipeline.core.environment", description=main.__doc__)
    parser.add_argument("--write", type=Path, help="write the JSON to this file instead of printing it")
    parser.add_argument("--compare", type=Path, help="print how this environment differs from a JSON file's")
    args = parser.parse_args(argv)
    here = describe()
    if args.compare:
        other = json.loads(args.compare.read_text())
        found = differences([other, here])
        for key in found:
            print(f"{key}: {other.get(key, '(none)')!r} there, {here.get(key, '(none)')!r} here")
        print("no difference" if not found else f"{len(found)} difference(s)")
        return 1 if found else 0
    text = as_json(here)
    if args.write:
        write_text_atomic(args.write, text)
    else:
        print(text, end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
