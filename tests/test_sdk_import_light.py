"""photon_sdk imports with only grpcio, protobuf and grpcio-status: no numerical stack."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

_SDK = Path(__file__).resolve().parent.parent / "sdk"

# Hide the daemon's extras as if they were not installed (grpc itself probes grpc_health and
# grpc_reflection on import and shrugs off ImportError), then import the whole SDK.
_CHECK = """
import importlib.abc, sys
HIDDEN = {"numpy", "numba", "grpc_health", "grpc_reflection", "photond", "photon_drivers"}

class Hide(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in HIDDEN:
            raise ImportError(f"{name} hidden by test_sdk_import_light")
        return None

sys.meta_path.insert(0, Hide())
import photon_sdk, photon_sdk.cli
loaded = sorted(HIDDEN & {name.partition(".")[0] for name in sys.modules})
assert not loaded, loaded
"""


def _run(code: str) -> subprocess.CompletedProcess[str]:
    path = os.pathsep.join(p for p in (str(_SDK), os.environ.get("PYTHONPATH", "")) if p)
    return subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "PYTHONPATH": path},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_sdk_imports_without_numpy_numba_or_daemon_extras() -> None:
    result = _run(_CHECK)
    assert result.returncode == 0, result.stderr


def test_sdk_import_loads_no_numpy_or_numba() -> None:
    code = (
        "import photon_sdk, sys; assert 'numpy' not in sys.modules and 'numba' not in sys.modules"
    )
    result = _run(code)
    assert result.returncode == 0, result.stderr
