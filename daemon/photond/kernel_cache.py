"""Where numba keeps photond's compiled kernels: one directory per version of the sources.

numba's on-disk cache (`cache=True`) keys a kernel by the timestamp of the file that defines
it, not of the files it calls into. After an edit to `thermal_check.py`, for instance, the
decoder in `decoder.py` would load its old machine code — with the old thermal check inlined —
and plan with it silently. Naming the cache directory after a hash of the sources kernels are
built from makes any edit there (or upgrade, or checkout) start a fresh cache.

Those sources are `KERNEL_SOURCES`: the `planning` and `model` packages, where every `@njit`
function and every constant a kernel freezes at compile time lives (kernels import nothing
from elsewhere in photond), and `heap.py`. An edit to the RPC side, the job book or the loop
does not touch a kernel, so it keeps the cache: hashing all of photond made each such edit
cost the next daemon a cold compile of a minute or more. Keeping it under a cache directory
rather than beside the modules also lets a read-only install cache its kernels.

The base directory is the first of: `NUMBA_CACHE_DIR`; systemd's `CACHE_DIRECTORY` (set by
`CacheDirectory=` in the unit); `$XDG_CACHE_HOME/photond/numba`; `~/.cache/photond/numba`.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

_PACKAGE = Path(__file__).parent

# Relative to the package: folders (every .py under them) and single modules.
KERNEL_SOURCES = ("planning", "model", "heap.py", "kernel_cache.py")


def _kernel_source_files() -> list[Path]:
    files: list[Path] = []
    for name in KERNEL_SOURCES:
        path = _PACKAGE / name
        files.extend(path.rglob("*.py") if path.is_dir() else [path] if path.exists() else [])
    return sorted(files)


def source_digest() -> str:
    """A short hash of the Python sources numba's kernels are compiled from."""
    digest = hashlib.sha256()
    for path in _kernel_source_files():
        digest.update(path.relative_to(_PACKAGE).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def cache_dir() -> Path:
    """The directory for this version's kernels (see the module docstring)."""
    base = os.environ.get("NUMBA_CACHE_DIR")
    if not base and os.environ.get("CACHE_DIRECTORY"):
        base = os.path.join(os.environ["CACHE_DIRECTORY"].split(":")[0], "numba")
    if not base:
        xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache")
        base = os.path.join(xdg, "photond", "numba")
    return Path(base) / source_digest()


def configure() -> None:
    """Point numba's cache at `cache_dir()`; call before any kernel module is imported.

    Without numba (the base install, no `daemon` extra) there are no kernels to cache: the
    package still imports, so that `photond` can say which extra to install (`entry`).
    """
    try:
        import numba
    except ImportError:
        return

    # numba.config fills its attributes from the environment at import: mypy cannot see them.
    numba.config.CACHE_DIR = str(cache_dir())  # type: ignore[attr-defined]
