"""Client([...]) over two real daemons: pick_device, routing, and a daemon that stops."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from daemon_process import RunningDaemon, cleanup, start_daemon
from photon_sdk import (
    Candidate,
    Client,
    NoDeviceAvailable,
    NotFound,
    OptimizationLevel,
    Schedule,
    TaskGraph,
)
from photon_sdk._pick import choose, rank_key


def _schedule(makespan_s: float) -> Schedule:
    return Schedule((), makespan_s, 40.0, makespan_s, 0.0, "test", 0.0)


def _candidate(target: str, jobs_ahead: int, headroom_c: float, makespan_s: float) -> Candidate:
    return Candidate(target, "sim0", jobs_ahead, headroom_c, makespan_s, 40.0)


def test_rank_prefers_fewer_jobs_then_shorter_plans_then_headroom() -> None:
    busy_cool = _candidate("a", 1, 60.0, 1.0)
    idle_warm = _candidate("b", 0, 20.0, 1.0)
    idle_cool = _candidate("c", 0, 55.0, 1.0)
    idle_cool_slow = _candidate("d", 0, 58.0, 2.0)
    found = [(c, _schedule(c.predicted_makespan_s)) for c in (busy_cool, idle_warm, idle_cool)]
    found.append((idle_cool_slow, _schedule(2.0)))
    choice = choose(found, [])
    assert choice.target == "c"  # idle, same makespan as b but cooler
    assert [c.target for c in choice.candidates] == ["c", "b", "d", "a"]
    # Makespans within the resolution count as equal: headroom decides, not planner noise.
    assert rank_key(_candidate("x", 0, 50.0, 1.001)) > rank_key(_candidate("y", 0, 51.0, 1.004))


def test_choose_without_candidates_says_why() -> None:
    with pytest.raises(NoDeviceAvailable, match=r"unix:/gone \(endpoint\): UNAVAILABLE"):
        choose([], [("unix:/gone", "", "UNAVAILABLE: no daemon")])


@pytest.fixture(scope="module")
def two_daemons() -> Iterator[tuple[RunningDaemon, RunningDaemon]]:
    first = start_daemon()
    try:
        second = start_daemon()
    except BaseException:
        cleanup(first)
        raise
    yield first, second
    for daemon in (first, second):
        if daemon.process.poll() is None:
            cleanup(daemon)


def _graph() -> TaskGraph:
    graph = TaskGraph(name="pick me")
    graph.add_task("a", duration_s=0.5, zone_power_mw={"z0": 80.0})
    graph.add_task("b", duration_s=0.5, heater_power_mw={"h33": 20.0}, depends_on=["a"])
    return graph


def _hot_hold() -> TaskGraph:
    graph = TaskGraph(name="hot hold")
    graph.add_task("hold", duration_s=600.0, zone_power_mw={"z2": 160.0, "z3": 160.0})
    return graph


@pytest.mark.integration
def test_pick_device_chooses_the_idle_cool_daemon_and_survives_one_stopping(
    two_daemons: tuple[RunningDaemon, RunningDaemon],
) -> None:
    busy, idle = two_daemons
    with Client([busy.target, idle.target]) as client:
        assert client.targets == (busy.target, idle.target)
        hold = client.endpoint(busy.target).submit_job(_hot_hold(), level=OptimizationLevel.FAST)
        _wait_until(
            lambda: client.endpoint(busy.target).get_device_state("sim0").max_temperature_c > 30
        )

        choice = client.pick_device(_graph())
        assert (choice.target, choice.device_id) == (idle.target, "sim0")
        assert choice.jobs_ahead == 0 and choice.predicted_makespan_s > 0
        assert len(choice.candidates) == 2
        loser = choice.candidates[1]
        assert loser.target == busy.target and loser.jobs_ahead == 1
        assert loser.headroom_c < choice.headroom_c  # the busy die is hotter too

        # A job this client did not submit is found by asking each daemon; so is its cancel.
        assert client.get_job(hold.id).state == "running"
        assert client.cancel_job(hold.id).state == "cancelled"
        with pytest.raises(NotFound):
            client.get_job("job-nobody-has")
        # Submits go round-robin; the calls that name a job find the daemon that took it.
        jobs = [client.submit_job(_graph(), level=OptimizationLevel.FAST) for _ in range(2)]
        for job in jobs:
            assert client.wait_job(job.id).state == "completed"
        owners = {t for t in client.targets for j in jobs if _has(client.endpoint(t), j.id)}
        assert owners == {busy.target, idle.target}
        # Calls that name a device belong to one daemon: refused with a pointer.
        with pytest.raises(ValueError, match=r"client\.endpoint\(target\)"):
            client.get_device_state("sim0")

        # One daemon stops: stateless calls keep working through the other.
        cleanup(busy)
        for _ in range(4):  # round-robin would hit the stopped daemon every other call
            assert client.check_health()
            assert client.plan_job(_graph(), level=OptimizationLevel.FAST).makespan_s > 0
        after = client.pick_device(_graph())
        assert after.target == idle.target
        assert [s[0] for s in after.skipped] == [busy.target]


def _has(endpoint: Client, job_id: str) -> bool:
    try:
        endpoint.get_job(job_id)
    except NotFound:
        return False
    return True


def _wait_until(condition: object, timeout_s: float = 120.0) -> None:
    assert callable(condition)
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"not true within {timeout_s} s"
        time.sleep(0.1)


def test_resolve_endpoints_gives_one_target_per_address() -> None:
    from photon_sdk import resolve_endpoints

    targets = resolve_endpoints("localhost", 7451)
    assert targets and all(t.endswith(":7451") for t in targets)
    assert len(set(targets)) == len(targets)


def test_a_client_needs_at_least_one_target_and_async_takes_one() -> None:
    from photon_sdk import AsyncClient

    with pytest.raises(ValueError, match="list of them"):
        Client([])
    with Client(["unix:/a.sock", "unix:/b.sock", "unix:/a.sock"]) as client:
        assert client.targets == ("unix:/a.sock", "unix:/b.sock")  # each once, in order
        assert client.endpoint("unix:/b.sock").target == "unix:/b.sock"
        with pytest.raises(ValueError, match="not an endpoint"):
            client.endpoint("unix:/c.sock")

    async def open_async() -> None:
        AsyncClient(["unix:/a.sock", "unix:/b.sock"])

    import asyncio

    with pytest.raises(ValueError, match="one daemon"):
        asyncio.run(open_async())


def test_closing_the_pool_waits_for_grpcs_connectivity_threads() -> None:
    # grpc watches each endpoint's connectivity from a thread of its own; one still polling
    # when its channel closes dies with "Cannot monitor channel state: Channel closed!"
    # (an unhandled thread exception, seen once in a CI run). So the pool's close() returns
    # only when those threads have ended, and the Client closes its endpoints after it.
    import threading

    import grpc

    from photon_sdk._pool import PoolChannel

    targets = ["unix:/nonexistent-a.sock", "unix:/nonexistent-b.sock"]
    channels = [grpc.insecure_channel(t) for t in targets]
    before = set(threading.enumerate())
    pool = PoolChannel(targets, channels)
    started = set(threading.enumerate()) - before
    assert started  # the pool subscribed to both channels' connectivity
    pool.close()
    assert [t.name for t in started if t.is_alive()] == []
    for channel in channels:
        channel.close()
