"""photond.blas: one BLAS thread per photond process, unless the environment sets a count."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from photond.blas import THREAD_VARIABLES

# In a process of its own: the limit lasts for the process's lifetime.
_PROBE = """
import json
import numpy, scipy.linalg  # both wheels' OpenBLAS loaded, as in the daemon
from threadpoolctl import threadpool_info
from photond.blas import one_blas_thread
limited = one_blas_thread()
threads = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
print(json.dumps({"limited": limited, "threads": threads}))
"""


def _probe(**env: str) -> dict[str, object]:
    clean = {k: v for k, v in os.environ.items() if k not in THREAD_VARIABLES}
    run = subprocess.run(
        [sys.executable, "-c", _PROBE],
        env={**clean, **env},
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    answer: dict[str, object] = json.loads(run.stdout)
    return answer


def test_every_blas_library_runs_one_thread() -> None:
    answer = _probe()
    assert answer["limited"] is True
    threads = answer["threads"]
    assert isinstance(threads, list) and threads  # numpy's OpenBLAS at least
    assert set(threads) == {1}


def test_a_thread_count_the_operator_set_is_kept() -> None:
    answer = _probe(OPENBLAS_NUM_THREADS="2")
    assert answer["limited"] is False
    threads = answer["threads"]
    assert isinstance(threads, list) and set(threads) == {2}
