"""Thread names (`photond.thread_names`): the threads a profile must tell apart carry names
the kernel shows, not "python3.11"."""

from __future__ import annotations

import threading
from pathlib import Path

from photond.jobs.journal import Journal
from photond.thread_names import COMM_BYTES, name_this_thread, thread_name


def _named(name: str) -> str:
    seen: list[str] = []

    def run() -> None:
        name_this_thread(name)
        seen.append(thread_name(threading.get_native_id()))

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    return seen[0]


def test_a_thread_named_is_seen_so_by_the_kernel() -> None:
    assert _named("device-sim0") == "device-sim0"


def test_a_long_name_keeps_what_the_kernel_keeps() -> None:
    assert _named("device-a-rather-long-device-id") == "device-a-rather-long-device-id"[:COMM_BYTES]


def test_the_journals_writer_is_named(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "jobs.sqlite3")
    try:
        journal.flush()  # the writer has run
        names = {thread_name(t.native_id) for t in threading.enumerate() if t.native_id}
        assert "photond-journal" in names
    finally:
        journal.close()
