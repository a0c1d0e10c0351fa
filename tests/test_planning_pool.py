"""The planning pool (`rpc.planning_pool`): requests planned in worker processes, a bounded
queue, and a worker that dies costing at most the calls it held."""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import os
import pickle
import random
import signal
import threading
import time
import tracemalloc
from collections import OrderedDict
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import grpc
import pytest

from daemon_process import (
    RunningDaemon,
    cleanup,
    planning_workers,
    resource_trackers,
    start_daemon,
)
from photon.v1 import job_pb2, job_pb2_grpc
from photon_sdk import Client, JobState, TaskGraph
from photond.planning.graph import CheckedGraph, CheckedTask
from photond.planning.plan import Plan, PlannedTask, Stats
from photond.rpc import planning_pool, shared_parts
from photond.rpc.planning_pool import WORKER_NICE, SubmitJobHeader, _rebuild, _slices


def test_the_header_class_reads_every_field_but_the_graph() -> None:
    request = job_pb2.SubmitJobRequest(
        device_id="sim0",
        name="n",
        optimization_level=job_pb2.OPTIMIZATION_LEVEL_QUALITY,
        validation_level=job_pb2.VALIDATION_LEVEL_PARANOID,
        request_id="r1",
        graph=job_pb2.TaskGraph(tasks=[job_pb2.Task(id=f"t{i}") for i in range(100)]),
    )
    header: Any = SubmitJobHeader.FromString(request.SerializeToString())
    assert (header.device_id, header.name, header.request_id) == ("sim0", "n", "r1")
    assert header.optimization_level == job_pb2.OPTIMIZATION_LEVEL_QUALITY
    assert header.validation_level == job_pb2.VALIDATION_LEVEL_PARANOID
    assert "graph" not in SubmitJobHeader.DESCRIPTOR.fields_by_name


def _worker_answer(tasks: int) -> tuple[CheckedGraph, Plan, planning_pool._Made]:
    """A graph and plan, and what a worker makes of them (pickled as `_plan` does); its call
    returns `planning_pool._shared` of that."""
    graph = CheckedGraph(
        tuple(
            CheckedTask(f"t{i}", 0.02, {f"h0{i % 4}": 5.0}, ("ch0",), (), 0.0, 0.0, 0)
            for i in range(tasks)
        )
    )
    stats = Stats("FAST", "optimizer", 4, 2, 100, 0.5, 7)
    plan = Plan(
        tuple(PlannedTask(f"t{i}", "ch0", 0.02 * i, 0.02 * (i + 1)) for i in range(tasks)),
        0.02 * tasks,
        0.01 * tasks,
        "optimizer",
        0.5,
        statistics=stats,
    )
    made: planning_pool._Made = (
        "digest",
        [pickle.dumps(s, protocol=5) for s in _slices(graph.tasks)],
        pickle.dumps(dataclasses.replace(plan, tasks=()), protocol=5),
        [pickle.dumps(s, protocol=5) for s in _slices(plan.tasks)],
        [b"fragment"],
        b"schedule",
        (),
    )
    return graph, plan, made


def test_a_rebuilt_plan_is_the_workers_and_leaves_no_object_behind_once_dropped() -> None:
    """Nothing the rebuild allocates outlives the job: a survivor pins its pymalloc pool and
    arena among the job's freed objects. pickle's own class lookup left each slice's class
    name alive in CPython's type cache (docs/operations.md, Memory)."""
    graph, plan, made = _worker_answer(5_000)
    assert len(made[1]) == -(-5_000 // planning_pool.SLICE_TASKS)  # slices, each naming its class
    # The classes' lookups (first use) happen outside the traces.
    rebuilt = _rebuild(planning_pool._shared(made))
    assert (rebuilt.graph, rebuilt.plan, rebuilt.digest) == (graph, plan, "digest")
    assert (rebuilt.fragments, rebuilt.schedule_blob) == ((b"fragment",), b"schedule")
    del rebuilt
    answer = planning_pool._shared(made)
    tracemalloc.start(4)
    try:
        _rebuild(answer)
        gc.collect()
        left = tracemalloc.take_snapshot().filter_traces(
            [
                tracemalloc.Filter(True, planning_pool.__file__),
                tracemalloc.Filter(True, shared_parts.__file__),
            ]
        )
    finally:
        tracemalloc.stop()
    assert [str(s) for s in left.statistics("lineno")] == []


def test_a_workers_answer_crosses_as_a_shared_blocks_name_which_the_rebuild_unlinks() -> None:
    # Returned whole, a 100k-task plan's ~23 MB answer was unpickled in one call of the pool's
    # manager thread that held the daemon's interpreter (and the device loop) 10-12 ms.
    _, _, made = _worker_answer(20_000)
    answer = planning_pool._shared(made)
    assert len(pickle.dumps(answer)) < 2_000, "the plan's bytes cross in the call's result"
    block = Path("/dev/shm") / answer[1].name
    assert block.exists()
    _rebuild(answer)
    assert not block.exists(), "the rebuild left the shared block behind"


def test_the_answer_of_a_call_whose_caller_has_gone_is_unlinked() -> None:
    _, _, made = _worker_answer(10)
    future: Future[tuple[str, Any]] = Future()
    future.set_result(("ok", planning_pool._shared(made)))
    block = Path("/dev/shm") / future.result()[1][1].name
    assert block.exists()
    planning_pool._discard(future)
    assert not block.exists()


def test_a_request_body_crosses_as_a_shared_blocks_name_which_the_worker_unlinks() -> None:
    # Pickled into the call, a 10 MB body was one copy with the daemon's interpreter held.
    body = job_pb2.SubmitJobRequest(graph=_graph(3).to_proto()).SerializeToString()
    shared = asyncio.run(planning_pool._shared_body(body))
    assert len(pickle.dumps(shared)) < 500
    # Read in the worker's call: no device is known there, so the plan is refused, and the
    # block is gone all the same.
    with pytest.raises(KeyError):
        planning_pool._plan_in_worker(True, shared, "no-such-device", 0.0)
    assert not (Path("/dev/shm") / shared.name).exists()


def test_the_body_of_a_call_cancelled_while_it_is_shared_is_unlinked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    made: list[shared_parts.SharedParts] = []

    def share(parts: list[bytes]) -> shared_parts.SharedParts:
        made.append(shared_parts.share(parts))
        return made[-1]

    monkeypatch.setattr(planning_pool, "share", share)

    async def cancel_while_sharing() -> None:
        sharing = asyncio.create_task(planning_pool._shared_body(b"b" * 20_000_000))
        await asyncio.sleep(0)
        sharing.cancel()
        with pytest.raises(asyncio.CancelledError):
            await sharing
        for _ in range(100):  # the block is made meanwhile, then unlinked
            await asyncio.sleep(0.05)
            if made and not (Path("/dev/shm") / made[0].name).exists():
                return

    asyncio.run(cancel_while_sharing())
    assert made, "the body was not shared"
    assert not (Path("/dev/shm") / made[0].name).exists()


def test_a_workers_pickle_naming_a_class_a_plan_is_not_made_of_is_refused() -> None:
    with pytest.raises(pickle.UnpicklingError, match="OrderedDict"):
        planning_pool._loads(pickle.dumps(OrderedDict(a=1)))


def _slow_submit(target: str, graph: TaskGraph, answers: list[object]) -> threading.Thread:
    """Submit at QUALITY (a 5 s planning budget) from a thread, retrying while the queue is
    full; the answer or another error lands in `answers`."""

    def run() -> None:
        with grpc.insecure_channel(target) as channel:
            stub = job_pb2_grpc.JobServiceStub(channel)
            request = job_pb2.SubmitJobRequest(
                graph=graph.to_proto(),
                optimization_level=job_pb2.OPTIMIZATION_LEVEL_QUALITY,
                request_id="slow",
            )
            while True:
                try:
                    answers.append(stub.SubmitJob(request, timeout=300))
                    return
                except grpc.RpcError as error:
                    if error.code() != grpc.StatusCode.RESOURCE_EXHAUSTED:
                        answers.append(error)
                        return
                time.sleep(0.05)  # a probe held the one place: as a client would, retry

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def _hard_graph() -> TaskGraph:
    """60 tasks on pairs of heaters with precedence: the seed plan is not provably optimal, so
    QUALITY searches for its whole 5 s budget."""
    rng = random.Random(7)
    graph = TaskGraph()
    for i in range(60):
        deps = [f"t{j}" for j in rng.sample(range(i), 2)] if i > 3 else []
        heaters = rng.sample(["h00", "h01", "h02", "h03", "h10", "h11"], 2)
        graph.add_task(
            f"t{i}",
            duration_s=rng.choice([0.02, 0.05, 0.13, 0.31]),
            heater_power_mw=dict.fromkeys(heaters, 5.0),
            depends_on=deps,
        )
    return graph


def _graph(tasks: int) -> TaskGraph:
    graph = TaskGraph()
    for i in range(tasks):
        graph.add_task(f"t{i}", duration_s=0.02, heater_power_mw={f"h0{i % 4}": 5.0})
    return graph


@pytest.fixture
def one_place() -> Iterator[RunningDaemon]:
    daemon = start_daemon(None, "--planning-workers", "1", "--planning-queue-limit", "1")
    yield daemon
    cleanup(daemon)


@pytest.mark.integration
def test_a_full_planning_queue_refuses_with_resource_exhausted_and_loses_nothing(
    one_place: RunningDaemon,
) -> None:
    answers: list[object] = []
    slow = _slow_submit(one_place.target, _hard_graph(), answers)
    refused: list[grpc.RpcError] = []
    with grpc.insecure_channel(one_place.target) as channel:
        stub = job_pb2_grpc.JobServiceStub(channel)
        probe = job_pb2.SubmitJobRequest(graph=_graph(1).to_proto())
        while slow.is_alive() and not refused:
            try:
                stub.SubmitJob(probe, timeout=60)
            except grpc.RpcError as error:
                refused.append(error)
            time.sleep(0.2)
    slow.join()
    assert refused, "no submit was refused while the slow one was planned"
    assert refused[0].code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "planning_queue_limit = 1" in (refused[0].details() or "")
    [job] = answers
    assert isinstance(job, job_pb2.Job)
    with Client(one_place.target) as client:
        assert client.wait_job(job.id).state == JobState.COMPLETED
        # The place is free again.
        assert client.wait_job(client.submit_job(_graph(2)).id).state == JobState.COMPLETED


@pytest.mark.integration
def test_a_worker_killed_mid_plan_fails_that_call_with_unavailable_and_the_next_one_plans(
    one_place: RunningDaemon,
) -> None:
    [worker] = planning_workers(one_place)
    answers: list[object] = []
    slow = _slow_submit(one_place.target, _hard_graph(), answers)
    time.sleep(1.5)  # inside the 5 s budget, however loaded the machine: the call is planning
    os.kill(worker, signal.SIGKILL)
    slow.join()
    [error] = answers
    assert isinstance(error, grpc.RpcError)
    assert error.code() == grpc.StatusCode.UNAVAILABLE
    # The replacement worker warms its kernels first (seconds; more on a loaded machine), and
    # this call waits for it: the deadline is generous so the test checks that it plans, not
    # how fast.
    with Client(one_place.target, timeout_s=120) as client:
        job = client.submit_job(_graph(3))
        assert client.wait_job(job.id).state == JobState.COMPLETED
        assert one_place.process.poll() is None
    assert planning_workers(one_place) and worker not in planning_workers(one_place)


def _nice(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[16])


@pytest.mark.integration
def test_the_daemon_runs_as_many_planning_processes_as_configured_below_its_own_priority() -> None:
    daemon = start_daemon(None, "--planning-workers", "2")
    try:
        workers = planning_workers(daemon)
        assert len(workers) == 2
        # Planning yields a core to the device loop: the workers run WORKER_NICE lower.
        expected = min(19, _nice(daemon.process.pid) + WORKER_NICE)
        assert [_nice(pid) for pid in workers] == [expected, expected]
    finally:
        cleanup(daemon)


def _wait_for(condition: Callable[[], bool], what: str, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"{what} did not happen in {timeout_s} s"
        time.sleep(0.1)


@pytest.mark.integration
def test_idle_planning_processes_exit_after_the_configured_time_and_the_next_plan_restarts_them(
    tmp_path: Path,
) -> None:
    config = tmp_path / "photond.toml"
    config.write_text("planning_idle_exit_s = 0\n")  # never
    daemon = start_daemon(None, "--config", str(config), "--log-level", "DEBUG")
    try:
        [worker] = planning_workers(daemon)
        time.sleep(3.0)  # 0 keeps them: still the same process, idle
        assert planning_workers(daemon) == [worker]
        # Live on SIGHUP: one second without a plan and the worker goes.
        config.write_text("planning_idle_exit_s = 1\n")
        daemon.process.send_signal(signal.SIGHUP)
        assert len(resource_trackers(daemon)) == 1
        _wait_for(lambda: not planning_workers(daemon), "the idle worker's exit")
        stopped = "planning processes stopped after 1 s without a plan"
        assert stopped in daemon.log()
        # Then the daemon, alone to map numba's compiler now, gives back what it can, and
        # multiprocessing's resource tracker goes too: nothing of the pool is left to track.
        _wait_for(
            lambda: "freed heap returned to the OS" in daemon.log().split(stopped, 1)[1],
            "a trim after the worker's exit",
        )
        _wait_for(lambda: not resource_trackers(daemon), "the resource tracker's exit")
        assert daemon.process.poll() is None
        # The next plan starts a worker again (its warm-up loads the cached kernels), and a
        # tracker with it, and plans.
        with Client(daemon.target, timeout_s=120) as client:
            job = client.submit_job(_graph(3))
            assert client.wait_job(job.id).state == JobState.COMPLETED
        _wait_for(lambda: not planning_workers(daemon), "the second worker's exit")
        _wait_for(lambda: not resource_trackers(daemon), "the second tracker's exit")
        assert daemon.log().count("planning processes stopped after") == 2
        # It had nothing to clean up: every semaphore and shared block was unregistered first.
        assert "resource_tracker" not in daemon.log()
        assert "Exception ignored" not in daemon.log()
    finally:
        cleanup(daemon)
