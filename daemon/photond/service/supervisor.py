"""Feed the service manager's watchdog from the device loops, and tell it how photond is.

Each device loop replaces its `heartbeat` at the end of every pass (`loop.runtime`); nothing
else touches it. This task pings `WATCHDOG=1` only while every loop's heartbeat is younger
than half the watchdog interval, so a loop stuck in a driver call, a dead loop thread or a
blocked event loop (this task runs on it) all stop the pings, and systemd restarts photond
once `WatchdogSec=` passes without one. A device whose breaker is open still counts as alive:
its loop keeps passing, re-sending the safe state; what the watchdog guards is the loop.

The same pass sends a `STATUS=` line: devices (and which are not serving), jobs running and
queued, the hottest sensor reading. SIGUSR1 logs `state_lines` (see `photond.cli`).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Iterable

from photond.rpc.devices import ManagedDevice
from photond.service.notify import Notifier

log = logging.getLogger("photond.service")

# Seconds between STATUS lines (and heartbeat checks) when no watchdog asks for more often.
STATUS_INTERVAL_S = 2.0
# Without a watchdog interval, a heartbeat this old is reported stale (log and STATUS only).
STALE_WITHOUT_WATCHDOG_S = 5.0


class Supervisor:
    """Watches the devices' loops for the service manager.

    Args:
        devices: the daemon's devices (their runtimes carry the heartbeats).
        notifier: where pings and STATUS lines go.
    """

    def __init__(self, devices: Iterable[ManagedDevice], notifier: Notifier) -> None:
        self.devices = list(devices)
        self.notifier = notifier
        watchdog_s = notifier.watchdog_s
        # Ping twice per interval (sd_watchdog_enabled(3)); a heartbeat older than one ping
        # period means the loop missed a ping: stop feeding.
        self.stale_after_s = watchdog_s / 2 if watchdog_s else STALE_WITHOUT_WATCHDOG_S
        self.interval_s = (
            min(STATUS_INTERVAL_S, watchdog_s / 2) if watchdog_s else STATUS_INTERVAL_S
        )
        self._withheld = False

    def stale_loops(self, now_s: float | None = None) -> list[tuple[str, float]]:
        """(device id, heartbeat age in s) of every loop whose heartbeat is stale."""
        now_s = time.monotonic() if now_s is None else now_s
        ages = ((d.id, now_s - d.runtime.heartbeat.monotonic_s) for d in self.devices)
        return [(device_id, age_s) for device_id, age_s in ages if age_s > self.stale_after_s]

    def check(self) -> bool:
        """One pass: ping the watchdog if every loop is alive; send STATUS. True if pinged."""
        stale = self.stale_loops()
        if stale and not self._withheld:
            log.warning(
                "watchdog not fed: a device loop has not passed",
                extra={"loops": _ages(stale), "stale_after_s": self.stale_after_s},
            )
        elif not stale and self._withheld:
            log.info("watchdog fed again: every device loop is passing")
        self._withheld = bool(stale)
        pinged = False
        if not stale and self.notifier.watchdog_s is not None:
            pinged = self.notifier.watchdog()
        self.notifier.status(self.status_line(stale))
        return pinged

    async def run(self) -> None:
        while True:
            try:
                self.check()
            except Exception:  # reporting must never take the daemon down
                log.exception("service supervisor pass failed")
            await asyncio.sleep(self.interval_s)

    def status_line(self, stale: list[tuple[str, float]] | None = None) -> str:
        """One line for `systemctl status`: devices, jobs, hottest reading, stuck loops."""
        not_serving = []
        running = queued = 0
        hottest: tuple[float, str] | None = None
        for device in self.devices:
            runtime = device.runtime
            serving, reason = runtime.serving
            if not serving:
                not_serving.append(f"{device.id}: {reason}")
            running += bool(runtime.active[0])
            queued += runtime.queued_jobs
            frame = runtime.hub.latest
            if frame is not None:
                readings = [t for t in frame.temperature_c if not math.isnan(t)]
                if readings and (hottest is None or max(readings) > hottest[0]):
                    hottest = (max(readings), device.id)
        count = len(self.devices)
        parts = [f"{count} device{'s' if count != 1 else ''}, {count - len(not_serving)} serving"]
        if not_serving:
            parts[0] += " (" + "; ".join(not_serving) + ")"
        parts.append(f"jobs: {running} running, {queued} queued")
        if hottest is not None:
            parts.append(f"hottest {hottest[0]:.1f} °C on {hottest[1]}")
        if stale:
            parts.append(f"loop stuck: {_ages(stale)}")
        return "; ".join(parts)

    def state_lines(self) -> list[tuple[str, dict[str, object]]]:
        """(message, fields) per device: what SIGUSR1 writes to the log."""
        now_s = time.monotonic()
        lines: list[tuple[str, dict[str, object]]] = []
        for device in self.devices:
            runtime = device.runtime
            serving, reason = runtime.serving
            job_id, tasks = runtime.active
            frame = runtime.hub.latest
            readings = [t for t in frame.temperature_c if not math.isnan(t)] if frame else []
            fields: dict[str, object] = {
                "device": device.id,
                "driver": device.driver_name,
                "serving": serving,
                "reason": reason,
                "breaker": runtime.breaker.state.value,
                "heartbeat_age_s": round(now_s - runtime.heartbeat.monotonic_s, 3),
                "passes": runtime.heartbeat.passes,
                "running_job": job_id,
                "running_tasks": len(tasks),
                "queued_jobs": runtime.queued_jobs,
                "hottest_c": round(max(readings), 2) if readings else "none",
            }
            lines.append(("state", fields))
        return lines


def _ages(stale: list[tuple[str, float]]) -> str:
    return ", ".join(f"{device_id} {age_s:.1f} s ago" for device_id, age_s in stale)
