"""Every Client and AsyncClient method against a real photond: levels, dry runs, stops, watching.

The daemon here plays the chip in real time (time scale 1), so an emergency stop holds a job
for the full hold timeout (60 s) while a test looks at it: nothing races the clock.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from dataclasses import replace

import pytest

from daemon_process import RunningDaemon, cleanup, start_daemon
from photon_sdk import (
    AsyncClient,
    Client,
    JobEvent,
    JobState,
    OptimizationLevel,
    TaskGraph,
    ValidationLevel,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def daemon() -> Iterator[RunningDaemon]:
    running = start_daemon(time_scale=1.0)
    yield running
    cleanup(running)


def small_graph() -> TaskGraph:
    graph = TaskGraph(name="small")
    graph.add_task("a", duration_s=0.1, heater_power_mw={"h00": 10.0})
    graph.add_task("b", duration_s=0.1, heater_power_mw={"h01": 10.0}, depends_on=["a"])
    return graph


def long_graph(name: str) -> TaskGraph:
    """A job that cannot end while a test looks at it: a minute-long task, then another."""
    graph = TaskGraph(name=name)
    graph.add_task("long", duration_s=60.0, heater_power_mw={"h00": 10.0})
    graph.add_task("after", duration_s=0.1, heater_power_mw={"h11": 10.0}, depends_on=["long"])
    return graph


def chain_graph(name: str) -> TaskGraph:
    """Three tasks one after another, 4.5 s in all (its lower bound)."""
    graph = TaskGraph(name=name)
    graph.add_task("warm", duration_s=1.5, heater_power_mw={"h00": 10.0})
    graph.add_task("mid", duration_s=1.5, heater_power_mw={"h11": 10.0}, depends_on=["warm"])
    graph.add_task("last", duration_s=1.5, heater_power_mw={"h22": 10.0}, depends_on=["mid"])
    return graph


def assert_numbered_from_1(events: list[JobEvent]) -> None:
    assert [e.sequence for e in events] == list(range(1, len(events) + 1))


def test_submit_with_levels_and_plan_job(daemon: RunningDaemon) -> None:
    with Client(daemon.target) as client:
        job = client.submit_job(
            small_graph(), level=OptimizationLevel.FAST, validation=ValidationLevel.PARANOID
        )
        assert job.schedule is not None and job.schedule.statistics is not None
        assert job.schedule.statistics.optimization_level == "FAST"
        done = client.wait_job(job.id)
        assert done.state is JobState.COMPLETED, done.failure_reason
        before = client.get_job_stats().submitted
        plan = client.plan_job(chain_graph("dry run"), level=OptimizationLevel.FAST)
        assert client.get_job_stats().submitted == before, "a dry run journals nothing"
    assert plan.lower_bound_s == pytest.approx(4.5)
    assert plan.makespan_s >= plan.lower_bound_s - 1e-9
    assert plan.gap_to_bound == pytest.approx(
        (plan.makespan_s - plan.lower_bound_s) / plan.lower_bound_s, abs=1e-9
    )
    assert {t.task_id for t in plan.tasks} == {"warm", "mid", "last"}
    assert plan.statistics is not None and plan.statistics.optimization_level == "FAST"
    json.dumps(done.to_dict(), allow_nan=False)


def test_async_submit_with_levels_and_plan_job(daemon: RunningDaemon) -> None:
    async def run() -> None:
        async with AsyncClient(daemon.target) as client:
            job = await client.submit_job(
                small_graph(),
                level=OptimizationLevel.BALANCED,
                validation=ValidationLevel.BASIC,
            )
            assert job.schedule is not None and job.schedule.statistics is not None
            assert job.schedule.statistics.optimization_level == "BALANCED"
            done = await client.wait_job(job.id)
            assert done.state is JobState.COMPLETED, done.failure_reason
            plan = await client.plan_job(chain_graph("dry run"), level=OptimizationLevel.FAST)
            assert plan.lower_bound_s == pytest.approx(4.5)
            assert plan.statistics is not None and plan.statistics.rounds == 0

    asyncio.run(run())


def test_a_resubmitted_request_id_returns_the_same_job(daemon: RunningDaemon) -> None:
    key = uuid.uuid4().hex
    with Client(daemon.target) as client:
        first = client.submit_job(small_graph(), request_id=key)
        again = client.submit_job(small_graph(), request_id=key)
        client.wait_job(first.id)
    assert again.id == first.id and again.request_id == key


def test_limits_history_and_on_change_reach_the_daemon(daemon: RunningDaemon) -> None:
    # The point is that the SDK reaches them (in depth: tests/test_daemon_limits.py).
    with Client(daemon.target) as client:
        limits = client.get_device("sim0").limits
        tighter = replace(limits, max_device_temperature_c=limits.max_device_temperature_c - 1)
        assert client.update_limits("sim0", tighter) == tighter
        assert client.update_limits("sim0", limits) == limits  # the fixture's daemon is shared
        # History and ON_CHANGE answer now (in depth: tests/test_daemon_telemetry.py).
        now_s = client.get_device_state("sim0").device_time_s
        history = client.get_history_buckets("sim0", now_s - 0.5, now_s, 0.25)
        assert len(history.buckets) == 2 and history.sensor_ids[0] == "s00"
        with client.subscribe("sim0", deadband_c=0.5) as stream:
            assert len(next(stream).temperature_c) == 16  # the snapshot has every sensor

    async def run() -> None:
        async with AsyncClient(daemon.target) as client:
            assert await client.update_limits("sim0", tighter) == tighter
            assert await client.update_limits("sim0", limits) == limits
            # Before the device's first sample: nothing recorded.
            assert await client.get_history("sim0", 0.0, 0.1) == []
            history = await client.get_history_buckets("sim0", 0.0, 0.5, 0.25)
            assert [b.samples for b in history.buckets] == [0, 0]
            async with client.subscribe("sim0", deadband_c=0.5) as stream:
                assert len((await anext(stream)).temperature_c) == 16

    asyncio.run(run())


def test_emergency_stop_and_resume(daemon: RunningDaemon) -> None:
    with Client(daemon.target) as client:
        try:
            stopped = client.emergency_stop("sim0", "door open")
            assert stopped.emergency_stopped and not stopped.serving
            assert "door open" in stopped.not_serving_reason
            assert client.get_device_state("sim0").emergency_stopped
        finally:
            resumed = client.resume("sim0")
    assert not resumed.emergency_stopped and resumed.serving

    async def run() -> None:
        async with AsyncClient(daemon.target) as client:
            try:
                assert (await client.emergency_stop("sim0")).emergency_stopped
            finally:
                assert (await client.resume("sim0")).serving

    asyncio.run(run())


def test_watch_job_follows_a_job_already_running(daemon: RunningDaemon) -> None:
    """A second watcher joins a job held mid-run: it gets the history, then the live rest.

    The hold (an emergency stop) and the minute-long task keep the job from ending before the
    watcher joins, however loaded the machine; what follows the hold — the resume, the task
    started again, the cancel — happens after the watcher joined, so it arrives live.
    """
    with Client(daemon.target) as client:
        job = client.submit_job(long_graph("followed"))
        first = client.watch_job(job.id)
        try:
            next(e for e in first if e.kind == "task_started")
        finally:
            first.close()
        events: list[JobEvent] = []
        try:
            client.emergency_stop("sim0", "hold for the watcher")
            watcher = client.watch_job(job.id)
            for event in watcher:
                events.append(event)
                if event.kind == "held":
                    break
        finally:
            client.resume("sim0")
        for event in watcher:
            events.append(event)
            if event.kind == "task_started":  # the held task, started again after the resume
                client.cancel_job(job.id)
            if event.is_terminal:
                break
        watcher.close()
    kinds = [e.kind for e in events]
    assert_numbered_from_1(events)
    assert kinds[:3] == ["planned", "job_started", "task_started"]
    live = kinds[kinds.index("held") + 1 :]
    assert live[0] == "resumed" and "task_started" in live and live[-1] == "cancelled"


def test_async_watch_job_follows_a_job_already_running(daemon: RunningDaemon) -> None:
    async def run() -> list[JobEvent]:
        async with AsyncClient(daemon.target) as client:
            job = await client.submit_job(long_graph("followed async"))
            first = client.watch_job(job.id)
            async for event in first:
                if event.kind == "task_started":
                    break
            await first.aclose()
            events: list[JobEvent] = []
            try:
                await client.emergency_stop("sim0", "hold for the async watcher")
                watcher = client.watch_job(job.id)
                async for event in watcher:
                    events.append(event)
                    if event.kind == "held":
                        break
            finally:
                await client.resume("sim0")
            async for event in watcher:
                events.append(event)
                if event.kind == "task_started":
                    await client.cancel_job(job.id)
                if event.is_terminal:
                    break
            await watcher.aclose()
            return events

    events = asyncio.run(run())
    kinds = [e.kind for e in events]
    assert_numbered_from_1(events)
    assert kinds[:3] == ["planned", "job_started", "task_started"]
    live = kinds[kinds.index("held") + 1 :]
    assert live[0] == "resumed" and "task_started" in live and live[-1] == "cancelled"
