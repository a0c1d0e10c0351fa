"""One BLAS thread in each photond process (the daemon and its planning workers).

numpy's and scipy's OpenBLAS (two copies, one per wheel) start a thread per core and split
each large call between them. photond's large calls are the eigendecompositions of a device's
thermal network at start-up (1,548 nodes for the simulated chip's plant, built by the driver,
by the device loop's model and by the planning process); on the 2-core machine the second
thread shares its core with the planning process, the device loop or another program, and a
split call waits for its slowest part, while the waiting thread spins. Measured with
`OPENBLAS_NUM_THREADS`, alternating, on the shared machine at load 16-18: opening the
simulated chip took 10.6-46.3 s with two threads and 1.3-2.5 s with one; a warm start to READY
28.9-43.2 s against 6.2-8.7 s (benchmarks/startup.py `--daemon-env` gives the same switch).

A thread count the operator set (`OPENBLAS_NUM_THREADS`, `OMP_NUM_THREADS`, ...) is kept.
"""

from __future__ import annotations

import os

from threadpoolctl import threadpool_limits

# The variables BLAS libraries read their thread count from at load.
THREAD_VARIABLES = (
    "OPENBLAS_NUM_THREADS",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "GOTO_NUM_THREADS",
)


def one_blas_thread() -> bool:
    """Limit every BLAS library loaded in this process to one thread for the process's
    lifetime, unless the environment sets a thread count; returns whether it did."""
    if any(os.environ.get(name) for name in THREAD_VARIABLES):
        return False
    threadpool_limits(limits=1, user_api="blas")
    return True
