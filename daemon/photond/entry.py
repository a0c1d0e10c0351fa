"""The `photond` command's entry point: says which extra to install when the daemon's are missing.

`pip install photond` is the SDK and photonctl alone (a compile host needs nothing heavier);
the daemon needs the `daemon` extra (numba, numpy, scipy, pyserial, OpenTelemetry, gRPC health
and reflection). Without it, importing the daemon fails deep inside; this module turns that
into one line naming the extra, instead of a traceback.
"""

from __future__ import annotations

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


def main(argv: list[str] | None = None) -> int:
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
