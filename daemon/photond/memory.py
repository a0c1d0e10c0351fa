"""What a photond process holds in memory (read from /proc), and freed heap given back to the OS.

After a burst of large jobs the daemon's resident memory stayed 40-50 % above its idle figure
although the jobs were gone (`gc.collect` found nothing): glibc keeps freed heap in its
arenas for the next allocation and returns only the top of the main heap by itself. A large
job is hundreds of thousands of small objects (protobuf messages, pickles, tuples) spread
over every arena, so free pages are left in the middle where that automatic trim never
reaches. `malloc_trim(0)` walks every arena and gives back each whole free page
(`madvise(MADV_DONTNEED)`); measured, it brings the daemon back to its idle figure.

`trim_soon()` asks for that once the job's objects are gone: it is called where a job ends
(`jobs.book`, from the device loop's thread) and when the planning pool empties, and returns
at once. A `Trimmer` thread waits `SETTLE_S` for the rest of the job's objects to be dropped,
coalesces the requests of a burst into one trim, and runs it outside the interpreter lock
(ctypes releases it around a foreign call), so the device loop never waits for it.

`malloc_trim` gives back free chunks inside every arena, and the top of the main heap, but not
the free top of the other threads' heaps, which glibc shrinks only in `free()` once it is above
the trim threshold. That threshold is dynamic by default: it rises to twice the largest block
freed so far (up to 64 MiB), so after a burst the heaps of the threads that built and dropped
the jobs kept ~30 MB of free top between them (the 64 MiB-aligned mappings of
/proc/PID/smaps; `benchmarks/memory_survivors.py`). `configure_heap()`, at start, fixes both
thresholds at `HEAP_THRESHOLD_BYTES`: a thread's free top above it goes back, and blocks from
that size up are mapped on their own and unmapped when freed.

The same trims give back the pages of numba's compiler (`page_out_compiler`): once the kernels
are loaded LLVM's code never runs again, yet ~72 MB of it stayed resident in an idle daemon.
`madvise(MADV_PAGEOUT)` reclaims those the daemon alone maps; they are the file's own pages,
read from it again should numba ever compile in the daemon after all.

On a C library other than glibc (musl has no `malloc_trim`) trimming is a no-op.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("photond.memory")

# Seconds between a request and the trim: the finished job's last references (its answer in
# flight, the loop's forecast of it) go meanwhile, and a burst of job ends costs one trim.
SETTLE_S = 1.0
_PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")
_MB = 1e6


@dataclass(frozen=True)
class ProcessMemory:
    """One process's memory (MB, 10^6 bytes) from /proc/PID/smaps_rollup.

    rss: resident pages; pss: resident pages with each shared page divided among the
    processes sharing it (the sum over processes counts a shared library once); anonymous:
    the process's own heap, arenas, stacks and arrays (not shared with the other processes:
    what a process really adds); file: resident pages of mapped files (libraries).
    """

    rss_mb: float
    pss_mb: float
    anonymous_mb: float
    file_mb: float


def process_memory(pid: int | str = "self") -> ProcessMemory:
    """`pid`'s memory now (raises OSError when it has exited)."""
    kb: dict[str, int] = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            key, _, value = line.partition(":")
            if value.strip().endswith("kB"):
                kb[key] = int(value.split()[0])
    rss, anon = kb.get("Rss", 0), kb.get("Anonymous", 0)
    return ProcessMemory(
        rss_mb=rss * 1024 / _MB,
        pss_mb=kb.get("Pss", 0) * 1024 / _MB,
        anonymous_mb=anon * 1024 / _MB,
        file_mb=(rss - anon) * 1024 / _MB,
    )


def _smaps(pid: int | str = "self") -> Iterator[tuple[list[str], dict[str, int]]]:
    """Each mapping of `pid` (/proc/PID/smaps): its header's fields (address range,
    permissions, offset, device, inode, path if any) and its kB figures (Rss, Anonymous...)."""
    header: list[str] | None = None
    figures: dict[str, int] = {}
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            head = line.split(maxsplit=5)
            if head and "-" in head[0] and ":" not in head[0]:
                if header is not None:
                    yield header, figures
                header, figures = [field.strip() for field in head], {}
            elif len(head) >= 2 and head[0].endswith(":") and head[1].isdigit():
                figures[head[0][:-1]] = int(head[1])
    if header is not None:
        yield header, figures


def resident_by_mapping(pid: int | str = "self") -> dict[str, float]:
    """Resident MB per mapping name of `pid` (/proc/PID/smaps): `[heap]` (the main arena),
    `[anon]` (other arenas, thread stacks, large arrays), `[stack]`, and each mapped file by
    its base name (`libllvmlite.so`: numba's LLVM). Largest first."""
    resident: dict[str, float] = {}
    for header, figures in _smaps(pid):
        path = header[5] if len(header) > 5 else "[anon]"
        name = os.path.basename(path) if path.startswith("/") else path
        resident[name] = resident.get(name, 0.0) + figures.get("Rss", 0) * 1024 / _MB
    return dict(sorted(resident.items(), key=lambda item: -item[1]))


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * _PAGE_BYTES / _MB


def _libc_function(name: str, argtypes: list[Any], restype: Any) -> Any | None:
    """The C library's function `name` with its signature set, or None where there is no C
    library or it has no such function (not glibc)."""
    library = ctypes.util.find_library("c")
    if library is None:
        return None
    try:
        function = getattr(ctypes.CDLL(library), name)
    except (OSError, AttributeError):
        return None
    function.argtypes = argtypes
    function.restype = restype
    return function


_malloc_trim: Callable[[int], int] | None = _libc_function(
    "malloc_trim", [ctypes.c_size_t], ctypes.c_int
)


# mallopt's parameters (glibc's malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
# Fixed trim and mmap threshold: 4 MiB, the figure measured (benchmarks/startup.py: RSS after the
# burst / idle 1.22 against 1.29-1.37 left dynamic, idle RSS the same; with the mmap threshold
# at 32 MiB the plant's arrays moved into the main heap and idle RSS rose 6 MB). The same value
# for both: a block below the mmap threshold, freed at a heap's top, does not alone cross the
# trim threshold, so a loop that takes and frees one each pass does not trim and regrow.
HEAP_THRESHOLD_BYTES = 4 << 20
_M_ARENA_MAX = -8
# Arenas glibc may make (the main one and one more). Left alone, each thread that allocates
# gets one of its own, up to 8 a core: with the daemon on glibc's malloc for every object
# (`photond.entry`), the gRPC and worker threads that built a burst's jobs kept their arenas'
# scattered survivors resident (benchmarks/startup.py: RSS after the burst / idle 1.10 and
# 1.10 left alone, 1.07 and 1.05 with two; docs/operations.md "Memory").
ARENAS_MAX = 2
_M_MXFAST = 1
# No fastbins: a freed small block is merged with its free neighbours as it is freed, not kept
# aside until some large allocation merges them all at once (`malloc_consolidate`). With every
# object on glibc's malloc (`photond.entry`), a job's end frees millions of them, and the next
# large allocation was gRPC's buffer for an answer, made with the interpreter held: under
# perf, one 50.4 ms frame gap of a 100k-task cancel was 16.6 and 21.1 ms of gRPC's
# `malloc_consolidate` (benchmarks/loop_stall.py --perf). Alternating loop_stall runs, 4 pairs,
# without fastbins against with: the 100k cancel's largest gap 10.8-13.9 ms against
# 11.7-31.6, the basic view's 10.8-11.6 against 14.2-20.4 (tcache, glibc's per-thread cache
# of recently freed small blocks, stays).
MXFAST_BYTES = 0
# glibc reads these at start: an operator who set them keeps them.
_OPERATOR_SETTINGS = (
    "MALLOC_TRIM_THRESHOLD_",
    "MALLOC_MMAP_THRESHOLD_",
    "MALLOC_TOP_PAD_",
    "MALLOC_ARENA_MAX",
)


def configure_heap(environ: Mapping[str, str] | None = None) -> bool:
    """Fix glibc's trim and mmap thresholds at `HEAP_THRESHOLD_BYTES` (see the module
    docstring), its arenas at `ARENAS_MAX` and its fastbins off (`MXFAST_BYTES`); returns
    whether it did. Not where the C
    library has no `mallopt`, nor where the operator set glibc's malloc variables
    (`MALLOC_*_`, `MALLOC_ARENA_MAX`, `GLIBC_TUNABLES=glibc.malloc.*`): theirs stand."""
    env = os.environ if environ is None else environ
    if any(name in env for name in _OPERATOR_SETTINGS) or "glibc.malloc." in env.get(
        "GLIBC_TUNABLES", ""
    ):
        log.info("glibc's malloc settings from the environment kept")
        return False
    mallopt: Callable[[int, int], int] | None = _libc_function(
        "mallopt", [ctypes.c_int, ctypes.c_int], ctypes.c_int
    )
    if mallopt is None:
        return False
    return bool(
        mallopt(_M_TRIM_THRESHOLD, HEAP_THRESHOLD_BYTES)
        and mallopt(_M_MMAP_THRESHOLD, HEAP_THRESHOLD_BYTES)
        and mallopt(_M_ARENA_MAX, ARENAS_MAX)
        and mallopt(_M_MXFAST, MXFAST_BYTES)
    )


def trim() -> float:
    """Give every whole free page of the C heap back to the OS now; returns the MB of resident
    memory that went (0 where the C library cannot trim). Blocks the calling thread for the
    trim (milliseconds to tens of them after a large job), not the interpreter."""
    if _malloc_trim is None:
        return 0.0
    before = _rss_mb()
    _malloc_trim(0)
    return max(0.0, before - _rss_mb())


# The shared library numba compiles with: llvmlite's build of LLVM. ~72 MB of its code is
# resident in a daemon once the kernels are compiled or loaded from the cache, a quarter of an
# idle daemon, and none of it runs again: a loaded kernel is machine code in memory of its own,
# called through numba's dispatcher; LLVM runs only to compile or link one.
COMPILER_LIBRARY = "libllvmlite.so"
# madvise(2): reclaim these pages now (Linux 5.4+).
_MADV_PAGEOUT = 21
_madvise: Callable[[int, int, int], int] | None = _libc_function(
    "madvise", [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int], ctypes.c_int
)


def _file_only_mappings(name: str) -> list[tuple[int, int]]:
    """(start, length) of this process's mappings of the files named `name` that hold none of
    the process's own copies of their pages (relocated data, copied on write: paged out, they
    would go to swap): only the file's pages, which the kernel can drop and read again."""
    spans = []
    for header, figures in _smaps():
        if len(header) > 5 and os.path.basename(header[5]) == name and not figures["Anonymous"]:
            start, end = (int(address, 16) for address in header[0].split("-"))
            spans.append((start, end - start))
    return spans


# The compiler's file-only mappings, found once: a loaded library stays where it was mapped,
# and reading /proc/self/smaps (~470 mappings in a daemon) cost each trim ~11 ms of Python.
_compiler_spans: list[tuple[int, int]] = []


def page_out_compiler() -> float:
    """Give back the resident pages of numba's compiler (`COMPILER_LIBRARY`) that only this
    process maps (`page_out_file`); returns the MB of resident memory that went. For a daemon
    whose kernels are loaded: should one compile again (a kernel for a new signature), the
    pages are read back from the file. Pages another process maps too (a planning worker's)
    stay, and go at a later call once that process has exited. A no-op without numba."""
    if "llvmlite" not in sys.modules:
        return 0.0  # numba not imported: its compiler is not mapped
    if not _compiler_spans:
        _compiler_spans[:] = _file_only_mappings(COMPILER_LIBRARY)
    return _page_out(_compiler_spans)


def page_out_file(name: str) -> float:
    """Reclaim the resident pages of the files named `name` (base name) mapped into this
    process, but for the process's own copies of them and pages another process maps too;
    returns the MB of resident memory that went. A no-op on a kernel older than 5.4 (madvise
    refuses MADV_PAGEOUT) or a C library without madvise."""
    return _page_out(_file_only_mappings(name))


def _page_out(spans: list[tuple[int, int]]) -> float:
    """`page_out_file` of these (start, length) mappings."""
    if _madvise is None or not spans:
        return 0.0
    before = _rss_mb()
    for start, length in spans:
        if _madvise(start, length, _MADV_PAGEOUT) != 0:
            return 0.0  # no MADV_PAGEOUT here: nothing was reclaimed
    return max(0.0, before - _rss_mb())


class Trimmer:
    """A thread that trims `settle_s` after the first of a run of requests; see the module
    docstring."""

    def __init__(self, settle_s: float = SETTLE_S) -> None:
        self.settle_s = settle_s
        self.trims = 0
        self.released_mb = 0.0
        self._wanted = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def request(self) -> None:
        """Ask for a trim soon; returns at once (safe on the device loop's thread)."""
        self._wanted.set()
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(
                        target=self._run, name="photond-trim", daemon=True
                    )
                    self._thread.start()

    def _run(self) -> None:
        while True:
            self._wanted.wait()
            time.sleep(self.settle_s)
            self._wanted.clear()
            started = time.perf_counter()
            heap_mb = trim()
            compiler_mb = page_out_compiler()
            self.trims += 1
            self.released_mb += heap_mb + compiler_mb
            log.debug(
                "freed heap returned to the OS",
                extra={
                    "released_mb": round(heap_mb, 1),
                    "compiler_mb": round(compiler_mb, 1),
                    "took_ms": round(1e3 * (time.perf_counter() - started), 1),
                },
            )


_trimmer = Trimmer()


def trim_soon() -> None:
    """Ask the process's trimmer for a trim `SETTLE_S` from now (see `Trimmer`)."""
    with contextlib.suppress(RuntimeError):  # no new thread at interpreter exit
        _trimmer.request()
