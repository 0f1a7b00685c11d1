"""Run a benchmark without OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE.

These machines set both, which slows numpy's dense kernels up to 15x; a benchmark
re-executes itself without them (for its own command only) before numpy is imported,
and tells its child what it removed. Import nothing heavy here.
"""

from __future__ import annotations

import os
import sys

OPENBLAS_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
#: How the re-executed run learns what its parent removed.
UNSET_NOTE = "ENDCAP_BENCH_OPENBLAS_UNSET"


def without_openblas_vars() -> None:
    """Re-execute this script without the OpenBLAS variables, if any is set."""
    found = [v for v in OPENBLAS_VARS if v in os.environ]
    if found:
        env = {k: v for k, v in os.environ.items() if k not in OPENBLAS_VARS}
        env[UNSET_NOTE] = ", ".join(f"{v}={os.environ[v]}" for v in found)
        os.execve(sys.executable, [sys.executable, *sys.argv], env)
