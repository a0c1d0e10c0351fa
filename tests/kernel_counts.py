"""Run a script in a fresh interpreter that can count the numba signatures photond's modules
have compiled or loaded (`compiled()`): the test process has long had every kernel, loaded by
other tests, so only a new process shows what a warm-up leaves to load."""

from __future__ import annotations

import subprocess
import sys

_COUNTER = """
import sys
from numba.core.dispatcher import Dispatcher

def compiled():
    return sum(
        len(value.signatures)
        for name, module in list(sys.modules.items()) if name.startswith("photond.")
        for value in vars(module).values() if isinstance(value, Dispatcher)
    )
"""


def printed_counts(script: str) -> list[int]:
    """The integers `script` prints (its `compiled()` counts), run after the counter's code."""
    done = subprocess.run(
        [sys.executable, "-c", _COUNTER + script], capture_output=True, text=True, check=True
    )
    return [int(word) for word in done.stdout.split()]
