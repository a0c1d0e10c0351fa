"""Memory figures from /proc and freed heap given back to the OS (`photond.memory`)."""

from __future__ import annotations

import json
import mmap
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from daemon_process import cleanup, start_daemon
from photon_sdk import Client, JobState, TaskGraph
from photond import memory

# Freed 2 kB blocks with every 200th kept: the heap's free pages sit between live blocks, where
# glibc's own trimming (of the heap's top) never reaches.
_FRAGMENTED_HEAP = """
import json, sys
from photond import memory
trim = sys.argv[1] == "trim"
blocks = [bytes(2000) + bytes([i % 256]) for i in range(50_000)]
allocated = memory.process_memory().anonymous_mb
kept = blocks[::200]
del blocks
freed = memory.process_memory().anonymous_mb
released = memory.trim() if trim else 0.0
print(json.dumps([allocated, freed, released, memory.process_memory().anonymous_mb]))
"""


# A thread builds and drops 24 MB of 1 MiB blocks after a 16 MiB block was freed (which, left
# dynamic, raises glibc's trim threshold to 32 MiB): what stays resident after a trim.
_THREAD_HEAP_TOP = """
import json, sys, threading
from photond import memory
configured = memory.configure_heap({}) if sys.argv[1] == "configure" else False
big = bytes(16 << 20)
del big
def burst():
    blocks = [bytes(1 << 20) + bytes([i]) for i in range(24)]
    del blocks
before = memory.process_memory().anonymous_mb
thread = threading.Thread(target=burst)
thread.start()
thread.join()
memory.trim()
print(json.dumps([configured, memory.process_memory().anonymous_mb - before]))
"""


def _thread_heap_top(mode: str) -> tuple[bool, float]:
    out = subprocess.run(
        [sys.executable, "-c", _THREAD_HEAP_TOP, mode], capture_output=True, text=True, check=True
    ).stdout
    configured, kept_mb = json.loads(out)
    return bool(configured), float(kept_mb)


def test_a_configured_heap_gives_back_a_threads_free_top_which_trim_alone_keeps() -> None:
    configured, kept_mb = _thread_heap_top("configure")
    assert configured
    assert kept_mb < 8
    dynamic, kept_dynamic_mb = _thread_heap_top("default")
    assert not dynamic
    assert kept_dynamic_mb > 20, "glibc gave the top back unconfigured: the case tests nothing"


# Six threads each allocate blocks beyond pymalloc's 512 bytes (so glibc's), at the same time:
# how many arenas glibc then has, from malloc_info's XML.
_THREAD_ARENAS = """
import ctypes, json, os, sys, tempfile, threading
from photond import memory
if sys.argv[1] == "configure":
    memory.configure_heap({})
start = threading.Barrier(6)
def allocate():
    start.wait()
    blocks = [bytes(4000) for _ in range(2000)]
    start.wait()
threads = [threading.Thread(target=allocate) for _ in range(6)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
libc = ctypes.CDLL(None)
libc.fopen.restype = ctypes.c_void_p
libc.fopen.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
libc.fclose.argtypes = [ctypes.c_void_p]
path = os.path.join(tempfile.mkdtemp(), "info.xml")
out = libc.fopen(path.encode(), b"w")
libc.malloc_info(0, out)
libc.fclose(out)
print(json.dumps(open(path).read().count("<heap nr=")))
"""


def test_a_configured_heap_keeps_the_threads_to_two_arenas() -> None:
    def arenas(mode: str) -> int:
        run = subprocess.run(
            [sys.executable, "-c", _THREAD_ARENAS, mode], capture_output=True, text=True
        )
        assert run.returncode == 0, run.stderr
        return int(json.loads(run.stdout))

    assert arenas("keep") > memory.ARENAS_MAX  # each thread takes one of its own
    assert arenas("configure") <= memory.ARENAS_MAX


def test_the_heap_is_left_alone_where_the_operator_set_glibcs_malloc() -> None:
    assert not memory.configure_heap({"MALLOC_TRIM_THRESHOLD_": "131072"})
    assert not memory.configure_heap({"MALLOC_ARENA_MAX": "4"})
    assert not memory.configure_heap({"GLIBC_TUNABLES": "glibc.malloc.mmap_threshold=65536"})


def _fragmented(mode: str) -> list[float]:
    out = subprocess.run(
        [sys.executable, "-c", _FRAGMENTED_HEAP, mode], capture_output=True, text=True, check=True
    ).stdout
    return [float(x) for x in json.loads(out)]


def test_process_memory_splits_resident_pages_into_own_and_file_backed() -> None:
    now = memory.process_memory()
    assert 0 < now.anonymous_mb < now.rss_mb
    assert now.file_mb == pytest.approx(now.rss_mb - now.anonymous_mb)
    assert 0 < now.pss_mb <= now.rss_mb


def test_resident_by_mapping_names_the_heap_and_libraries_and_adds_up_to_rss() -> None:
    parts = memory.resident_by_mapping()
    assert "[heap]" in parts
    assert "libpython3.11.so.1.0" in parts or any(n.startswith("python3") for n in parts)
    assert list(parts.values()) == sorted(parts.values(), reverse=True)
    assert sum(parts.values()) == pytest.approx(memory.process_memory().rss_mb, rel=0.05)


def test_trim_gives_back_free_pages_between_live_blocks_which_free_alone_keeps() -> None:
    allocated, freed, released, after = _fragmented("trim")
    # ~100 MB allocated and freed but for every 200th block.
    assert freed > allocated - 20, "free() alone gave the pages back: the case tests nothing"
    assert released > 60
    assert after < freed - 60
    untrimmed = _fragmented("keep")
    assert untrimmed[3] > untrimmed[0] - 20


def test_the_trimmer_coalesces_a_run_of_requests_into_one_trim_after_settling() -> None:
    trimmer = memory.Trimmer(settle_s=2.0)
    for _ in range(3):
        trimmer.request()
    assert trimmer.trims == 0  # it waits for the job's last objects to go first
    deadline = time.monotonic() + 60
    while trimmer.trims == 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.0)
    assert trimmer.trims == 1
    trimmer.request()
    deadline = time.monotonic() + 60
    while trimmer.trims == 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert trimmer.trims == 2


def test_a_mapped_files_resident_pages_are_paged_out_and_read_back_when_touched(
    tmp_path: Path,
) -> None:
    path = tmp_path / "pages-of-a-test.bin"
    content = bytes(range(256)) * (32 << 12)  # 32 MiB
    with open(path, "wb") as written:
        written.write(content)
        written.flush()
        os.fsync(written.fileno())  # clean pages: a dirty one would be written back, not dropped
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ) as mapped:
        pages = range(0, len(content), mmap.PAGESIZE)
        assert sum(mapped[i] for i in pages) == sum(content[i] for i in pages)
        assert memory.resident_by_mapping()[path.name] > 30

        released_mb = memory.page_out_file(path.name)

        assert released_mb > 25
        assert memory.resident_by_mapping().get(path.name, 0.0) < 2
        assert mapped[:] == content  # read back from the file
        assert memory.page_out_file("no-such-file.so") == 0.0


# Loads the re-time kernels from numba's cache, runs them, pages out numba's compiler and runs
# them again: resident pages of LLVM that this process alone holds, before and after each step.
_COMPILER = """
import json
import numpy as np
from photond import memory
from photond.planning.retime import forecast_peak, warm_up
def private_mb():
    return sum(
        figures["Private_Clean"] / 1024
        for header, figures in memory._smaps()
        if len(header) > 5 and header[5].endswith(memory.COMPILER_LIBRARY)
    )
def peak():
    one = np.ones(3)
    none = np.zeros(0, dtype=np.int64)
    return forecast_peak(one * 0.5, np.ones((3, 1)), one, one, one, none, none,
                         np.zeros((0, 3)), np.zeros((0, 1)), one)
warm_up()
first = peak()
resident = memory.resident_by_mapping()[memory.COMPILER_LIBRARY]
spans = len(memory._file_only_mappings(memory.COMPILER_LIBRARY))
memory.page_out_compiler()
paged_out = private_mb()
second = peak()
after_run = private_mb()
def unread():
    raise AssertionError("smaps read again")
memory._smaps = unread  # the compiler's mappings were found once, and stay where they are
memory.page_out_compiler()
print(json.dumps([resident, spans, paged_out, after_run, repr(first) == repr(second)]))
"""


def test_numbas_compiler_is_paged_out_and_loaded_kernels_run_without_it() -> None:
    out = subprocess.run(
        [sys.executable, "-c", _COMPILER], capture_output=True, text=True, check=True
    ).stdout
    resident_mb, spans, paged_out_mb, after_run_mb, same = json.loads(out)
    assert resident_mb > 10  # LLVM's code, resident once kernels load (shared or not)
    assert spans >= 2  # its code and read-only data; not its relocated data
    # What this process alone held of it is gone, and running the kernels brings none back.
    assert paged_out_mb < 1
    assert after_run_mb < 1
    assert same


@pytest.mark.parametrize("module", ["photond.memory", "startup"])
def test_reading_memory_figures_imports_no_numba(module: str) -> None:
    # benchmarks/startup.py reads the daemon's memory with photond.memory: had the benchmark LLVM
    # mapped too, the daemon's LLVM pages would count half in its PSS and could not be paged
    # out. (Importing photond.config did that once: the idle RSS read 231 MB, not 192.)
    benchmarks = Path(__file__).resolve().parent.parent / "benchmarks"
    code = f"import sys; sys.path.insert(0, {str(benchmarks)!r}); import {module}; "
    out = subprocess.run(
        [sys.executable, "-c", code + "print('numba' in sys.modules)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.strip() == "False"


def _wait_for_trims(log: Callable[[], str], count: int, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while log().count("freed heap returned to the OS") < count and time.monotonic() < deadline:
        time.sleep(0.2)


@pytest.mark.integration
def test_the_daemon_trims_its_heap_once_a_job_has_ended() -> None:
    daemon = start_daemon(None, "--log-level", "DEBUG")
    try:
        graph = TaskGraph()
        # Long enough (hundreds of seconds) that the cancel below always finds it running.
        for i in range(2000):
            graph.add_task(f"t{i}", duration_s=1.0, heater_power_mw={f"h0{i % 4}": 5.0})
        with Client(daemon.target, timeout_s=120) as client:
            job = client.submit_job(graph)
            # The planning pool asks for a trim too once it is empty; let that one pass first.
            _wait_for_trims(daemon.log, 1)
            before = daemon.log().count("freed heap returned to the OS")
            client.cancel_job(job.id)
            assert client.wait_job(job.id).state == JobState.CANCELLED
        _wait_for_trims(daemon.log, before + 1)
        trims = re.findall(r'msg="freed heap returned to the OS".*', daemon.log())
        assert len(trims) > before, daemon.log()[-3000:]
    finally:
        cleanup(daemon)


# 10,000 small blocks freed with glibc's malloc (tcache holds 7 of a size; the rest go to the
# fastbins unless there are none): the fastbins' count, from malloc_info's XML.
_FASTBINS = """
import ctypes, json, os, re, sys, tempfile
from photond import memory
if sys.argv[1] == "configure":
    memory.configure_heap({})
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
libc.fopen.restype = ctypes.c_void_p
libc.fopen.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
libc.setvbuf.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.c_size_t]
libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
libc.fclose.argtypes = [ctypes.c_void_p]
# The report's file and its buffer first: a stdio buffer taken later is a large allocation,
# which would merge the fastbins before they are counted.
path = os.path.join(tempfile.mkdtemp(), "info.xml")
out = libc.fopen(path.encode(), b"w")
buffer = ctypes.create_string_buffer(1 << 16)
libc.setvbuf(out, buffer, 0, 1 << 16)
# Every other block freed (free neighbours would merge anyway); the lists made beforehand, as
# a list growing meanwhile is a large allocation too.
freed, kept = [0] * 10_000, [0] * 10_000
for i in range(10_000):
    freed[i] = libc.malloc(48)
    kept[i] = libc.malloc(48)
for block in freed:
    libc.free(block)
libc.malloc_info(0, out)
libc.fclose(out)
counts = re.findall('<total type="fast" count="([0-9]+)"', open(path).read())
print(json.dumps(sum(map(int, counts))))
"""


def test_a_configured_heap_keeps_no_freed_blocks_aside_for_a_consolidation_later() -> None:
    def fastbin_blocks(mode: str) -> int:
        command = [sys.executable, "-c", _FASTBINS, mode]
        run = subprocess.run(command, capture_output=True, text=True)
        assert run.returncode == 0, run.stderr
        return int(json.loads(run.stdout))

    assert fastbin_blocks("keep") > 1000  # what a large allocation would later merge, all at once
    assert fastbin_blocks("configure") == 0
