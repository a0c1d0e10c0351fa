"""UpdateLimits end to end: new plans, the running job (re-planned), the interlock, a restart."""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import time

import pytest

from daemon_process import cleanup, start_daemon
from photon_sdk import (
    Client,
    FailedPrecondition,
    InvalidArgument,
    JobEvent,
    JobState,
    PermissionDenied,
    TaskGraph,
)
from security_daemon import start_secure

pytestmark = pytest.mark.integration


def hot_graph(tasks: int) -> TaskGraph:
    # Zones at 230 mW one after another: the plan peaks near 49 °C on the default chip.
    graph = TaskGraph()
    for k in range(tasks):
        graph.add_task(f"hot{k}", duration_s=3.0, zone_power_mw={f"z{k % 4}": 230.0})
    return graph


def test_update_limits_replans_the_running_job_and_survives_a_restart() -> None:
    daemon = start_daemon()
    try:
        with Client(daemon.target) as client:
            hard = client.get_device("sim0").limits
            before = client.plan_job(hot_graph(8))
            assert before.predicted_peak_temperature_c > 42.0
            job = client.submit_job(hot_graph(40), name="hot")
            events: list[JobEvent] = []
            watcher = threading.Thread(target=lambda: events.extend(client.watch_job(job.id)))
            watcher.start()
            deadline = time.monotonic() + 60
            while client.get_job(job.id).state is not JobState.RUNNING:
                assert time.monotonic() < deadline
                time.sleep(0.05)
            tight = dataclasses.replace(hard, max_device_temperature_c=42.0)
            answered = client.update_limits("sim0", tight)
            assert answered == tight
            assert client.get_device("sim0").limits == tight
            # New plans keep the new limit.
            after = client.plan_job(hot_graph(8))
            assert after.predicted_peak_temperature_c <= 42.0 < before.predicted_peak_temperature_c
            # The running job is re-planned against it (max temperature - margin: 40 °C).
            deadline = time.monotonic() + 60
            while not any(e.kind == "replanned" and "40 °C" in e.reason for e in events):
                assert time.monotonic() < deadline, [(e.kind, e.reason) for e in events]
                time.sleep(0.1)
            with contextlib.suppress(FailedPrecondition):  # it may have ended meanwhile
                client.cancel_job(job.id)
            watcher.join(30)
            # Out of the profile's range: refused, naming the field; the limits stay.
            with pytest.raises(InvalidArgument) as refused:
                client.update_limits("sim0", dataclasses.replace(hard, max_device_temperature_c=90))
            assert refused.value.field_violations[0].field == "limits.max_device_temperature_c"
            assert client.get_device("sim0").limits == tight
        assert daemon.stop() == 0
        again = start_daemon(daemon.state_dir)
        try:
            with Client(again.target) as client:
                assert client.get_device("sim0").limits == tight
        finally:
            cleanup(again)
    finally:
        if daemon.process.poll() is None:
            cleanup(daemon)


def test_update_limits_needs_admin() -> None:
    secure = start_secure()
    try:
        with Client(secure.tcp, token=secure.tokens["operator"]) as operator:
            limits = operator.get_device("sim0").limits
            with pytest.raises(PermissionDenied, match="admin"):
                operator.update_limits("sim0", limits)
        with Client(secure.tcp, token=secure.tokens["admin"]) as admin:
            tighter = dataclasses.replace(limits, interlock_temperature_c=90.0)
            assert admin.update_limits("sim0", tighter).interlock_temperature_c == 90.0
        assert "method=UpdateLimits outcome=OK" in secure.daemon.log()
    finally:
        cleanup(secure.daemon)


def test_lowered_power_density_fails_queued_jobs_that_no_plan_can_fix() -> None:
    daemon = start_daemon()
    try:
        with Client(daemon.target) as client:
            hard = client.get_device("sim0").limits
            holder = TaskGraph()
            holder.add_task("hold", duration_s=600.0, heater_power_mw={"h77": 2.0})
            running = client.submit_job(holder)
            deadline = time.monotonic() + 60
            while client.get_job(running.id).state is not JobState.RUNNING:
                assert time.monotonic() < deadline
                time.sleep(0.05)
            # h00's cell is 0.39 mm²: 28 mW is 72 mW/mm², 4 mW is 10 mW/mm².
            strong, weak = TaskGraph(), TaskGraph()
            strong.add_task("strong", duration_s=1.0, heater_power_mw={"h00": 28.0})
            weak.add_task("weak", duration_s=1.0, heater_power_mw={"h00": 4.0})
            over = client.submit_job(strong)
            fits = client.submit_job(weak)
            client.update_limits(
                "sim0", dataclasses.replace(hard, max_power_density_mw_per_mm2=50.0)
            )
            failed = client.get_job(over.id)
            assert failed.state is JobState.FAILED
            assert "power-density cap 50 mW/mm²" in failed.failure_reason
            assert client.get_job(fits.id).state is JobState.QUEUED
            # New submissions are checked against the new cap too.
            with pytest.raises(InvalidArgument, match="power-density cap 50"):
                client.submit_job(strong)
            for job in (running, fits):
                client.cancel_job(job.id)
    finally:
        cleanup(daemon)
