"""follow_telemetry across a real daemon restart: frames, then an explicit gap, then frames."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from daemon_process import cleanup, start_daemon
from photon_sdk import AsyncClient, Client, TelemetryFrame, TelemetryGap, Unavailable

pytestmark = pytest.mark.integration


def test_a_restart_shows_up_as_a_gap_with_its_duration(tmp_path: Path) -> None:
    # The restarted daemon must answer on the same socket: a second listener at a fixed path.
    socket_path = Path(tempfile.mkdtemp(prefix="pd-fixed-")) / "photond.sock"
    listen = ("--listen", f"unix:{socket_path}")
    first = start_daemon(tmp_path, *listen)
    with Client(f"unix:{socket_path}") as client:
        items = client.follow_telemetry("sim0", 0.1)
        try:
            before = [next(items) for _ in range(3)]
            assert all(isinstance(item, TelemetryFrame) for item in before)
            cleanup_first = first.stop()
            assert cleanup_first == 0
            down_since = time.monotonic()
            time.sleep(1.0)  # down for at least this long
            down_for_s = time.monotonic() - down_since
            second = start_daemon(tmp_path, *listen)
            try:
                seen = []
                for item in items:
                    seen.append(item)
                    if isinstance(item, TelemetryGap):
                        break
                    assert len(seen) < 10_000, "no gap reported across the restart"
                gap = seen[-1]
                assert isinstance(gap, TelemetryGap)
                # Frames read before the stop was noticed may come first; then the gap.
                assert all(isinstance(item, TelemetryFrame) for item in seen[:-1])
                assert gap.duration_s >= down_for_s
                assert gap.device_id == "sim0" and gap.reason
                assert gap.ended_at > gap.started_at
                after = next(items)
                assert isinstance(after, TelemetryFrame)
                assert after.device_time_s == gap.next_device_time_s
                assert items.gaps == 1
                assert gap.to_dict()["duration_s"] == gap.duration_s
            finally:
                cleanup(second)
        finally:
            items.close()


def test_max_gap_raises_when_the_daemon_stays_away(tmp_path: Path) -> None:
    daemon = start_daemon(tmp_path)
    with Client(daemon.target) as client:
        items = client.follow_telemetry("sim0", 0.1, max_gap_s=2.0)
        try:
            assert isinstance(next(items), TelemetryFrame)
            cleanup(daemon)
            with pytest.raises(Unavailable):
                for _ in items:
                    pass
        finally:
            items.close()


def test_async_twin_reports_the_gap_too(tmp_path: Path) -> None:
    socket_path = Path(tempfile.mkdtemp(prefix="pd-fixed-")) / "photond.sock"
    listen = ("--listen", f"unix:{socket_path}")
    first = start_daemon(tmp_path, *listen)

    async def run() -> TelemetryGap:
        async with (
            AsyncClient(f"unix:{socket_path}") as client,
            client.follow_telemetry("sim0", 0.1) as items,
        ):
            first_item = await items.__anext__()
            assert isinstance(first_item, TelemetryFrame)
            await asyncio.to_thread(first.stop)
            second = await asyncio.to_thread(start_daemon, tmp_path, *listen)
            try:
                async for item in items:
                    if isinstance(item, TelemetryGap):
                        assert isinstance(await items.__anext__(), TelemetryFrame)
                        return item
            finally:
                await asyncio.to_thread(cleanup, second)
        raise AssertionError("the stream ended without a gap")

    gap = asyncio.run(run())
    assert gap.duration_s > 0 and gap.reason


def test_photonctl_watch_prints_the_gap_of_a_restart(tmp_path: Path) -> None:
    socket_path = Path(tempfile.mkdtemp(prefix="pd-fixed-")) / "photond.sock"
    listen = ("--listen", f"unix:{socket_path}")
    first = start_daemon(tmp_path, *listen)
    watcher = subprocess.Popen(
        [sys.executable, "-m", "photon_sdk.cli", "watch", "--plain", "--interval", "0.5"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PHOTON_TARGET": f"unix:{socket_path}"},
    )
    second = None
    try:
        assert watcher.stdout is not None
        assert watcher.stdout.readline().startswith("DEVICE_TIME_S")
        watcher.stdout.readline()  # a frame: it streams
        assert first.stop() == 0
        second = start_daemon(tmp_path, *listen)
        for _ in range(100_000):
            line = watcher.stdout.readline()
            assert line, watcher.communicate()[1]
            if line.startswith("# gap:"):
                break
        assert " s without frames" in line and "UNAVAILABLE" in line, line
        frame = watcher.stdout.readline().split()
        assert len(frame) == 6 and float(frame[1]) > 0  # frames again after the gap
    finally:
        watcher.kill()
        watcher.communicate()
        if second is not None:
            cleanup(second)
