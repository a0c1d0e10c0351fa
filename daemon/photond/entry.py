"""The `photond` command's entry point: says which extra to install when the daemon's are missing.

`pip install photond` is the SDK and photonctl alone (a compile host needs nothing heavier);
the daemon needs the `daemon` extra (numba, numpy, scipy, pyserial, OpenTelemetry, gRPC health
and reflection). Without it, importing the daemon fails deep inside; this module turns that
into one line naming the extra, instead of a traceback.
"""

from __future__ import annotations

import os
import subprocess
import sys

# The import names of the `daemon` extra's distributions (pyproject.toml).
DAEMON_EXTRA_MODULES = (
    "numpy",
    "numba",
    "scipy",
    "serial",
    "opentelemetry",
    "grpc_health",
    "grpc_reflection",
    "threadpoolctl",
)
INSTALL_HINT = "pip install 'photond[daemon]'"


# The interpreter's allocator (read once, as it starts): "malloc", glibc's, for every object.
ALLOCATOR_VARIABLE = "PYTHONMALLOC"
PHOTOND_ALLOCATOR = "malloc"
# Set beside it when photond chose it, so that its re-executed self knows to keep it from the
# processes it starts.
_CHOSEN_BY_PHOTOND = "PHOTOND_CHOSE_PYTHONMALLOC"
# The `photond` subcommands that serve nothing (the rest of argv serves).
_TOOLS = ("hash-token", "check-config")


def on_glibc_malloc(argv: list[str]) -> None:
    """Re-execute the daemon on glibc's malloc unless its allocator is chosen already.

    CPython's own allocator (pymalloc) keeps a 1 MiB arena as long as any object in it lives,
    so the few objects a burst of large jobs leaves behind kept ~60 MB of the daemon resident
    long after it (docs/operations.md "Memory"); glibc's malloc gives such memory back. The
    allocator is fixed as the interpreter starts, so photond sets `PYTHONMALLOC` and starts
    itself again in the same process (same PID, before any import of weight). An operator's
    `PYTHONMALLOC` stands. The planning processes keep pymalloc (`keep_allocator_to_self`):
    they exit after their plans, and it is faster at their object-heavy work.
    """
    if argv[:1] and argv[0] in _TOOLS:
        return
    if ALLOCATOR_VARIABLE in os.environ or not sys.platform.startswith("linux"):
        return
    os.environ[ALLOCATOR_VARIABLE] = PHOTOND_ALLOCATOR
    os.environ[_CHOSEN_BY_PHOTOND] = "1"
    # The interpreter's own flags (-B, -X ...) carried over, as multiprocessing does.
    flags = subprocess._args_from_interpreter_flags()  # type: ignore[attr-defined]
    # -P: the working directory is not searched first, where a folder named photond would win.
    os.execv(sys.executable, [sys.executable, *flags, "-P", "-m", "photond", *argv])


def keep_allocator_to_self() -> None:
    """Take photond's own `PYTHONMALLOC` out of the environment its children inherit."""
    if os.environ.pop(_CHOSEN_BY_PHOTOND, None) is not None:
        os.environ.pop(ALLOCATOR_VARIABLE, None)


def main(argv: list[str] | None = None) -> int:
    if argv is None:  # the program itself, not a caller in a process of its own
        on_glibc_malloc(sys.argv[1:])
    keep_allocator_to_self()
    try:
        from photond.cli import main as daemon_main
    except ImportError as exc:
        missing = (exc.name or "").partition(".")[0]
        if missing not in DAEMON_EXTRA_MODULES:
            raise
        print(
            f"photond: the daemon needs the 'daemon' extra, and {missing} cannot be imported "
            f"({exc}): {INSTALL_HINT}",
            file=sys.stderr,
        )
        return 2
    return daemon_main(argv)
