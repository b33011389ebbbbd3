"""Speed and quality benchmarks behind `rlrec bench`: each returns a JSON-ready dict.

Figures that are compared (a ratio, a speed-up) are always measured side by side in one run:
the machines are shared and noisy.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

import numpy as np

from rlrec.atomic import write_json
from rlrec.runtime import THREADS_ENV, num_threads


def machine_info() -> dict[str, Any]:
    """What a benchmark ran on: CPUs, Python and NumPy, the thread knob."""
    return {
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "machine": platform.machine(),
        "processor": platform.processor() or None,
        "python": platform.python_version(),
        "numpy": np.__version__,
        THREADS_ENV: num_threads(),
    }


def write_bench(path: str | os.PathLike[str], result: dict[str, Any]) -> Path:
    """Write a benchmark result as JSON, atomically."""
    return write_json(path, result)
