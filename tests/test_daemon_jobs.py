"""End to end: a real photond process, the SDK, a 20-task graph on the simulated chip."""

from __future__ import annotations

import asyncio
import itertools
import random
import shutil
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from daemon_process import RunningDaemon, cleanup, start_daemon
from photon_sdk import (
    AsyncClient,
    Client,
    JobEvent,
    JobState,
    JobView,
    TaskGraph,
    TelemetryFrame,
)

pytestmark = pytest.mark.integration


def twenty_task_graph() -> TaskGraph:
    """Four calibrations fan out to twelve mesh runs on contended lanes, then a fan-in."""
    graph = TaskGraph()
    for z in range(4):
        graph.add_task(f"cal{z}", duration_s=0.3, zone_power_mw={f"z{z}": 160.0})
    for i in range(12):
        row = i % 8
        graph.add_task(
            f"run{i}",
            duration_s=0.2 + 0.05 * (i % 4),
            heater_power_mw={f"h{row}{c}": 25.0 for c in range(4)},
            lanes=[f"wl{i % 3}"],
            depends_on=[f"cal{c}" for c in range(4) if c % 2 == i % 2],
        )
    graph.add_task("gather", duration_s=0.2, depends_on=[f"run{i}" for i in range(12)])
    graph.add_task("bias", duration_s=0.4, heater_power_mw={"h77": 30.0})
    graph.add_task("flush", duration_s=0.1, depends_on=["gather", "bias"])
    graph.add_task("end", duration_s=0.0, depends_on=["flush"])
    assert len(graph.tasks) == 20
    return graph


class TelemetryRecorder:
    """Collects frames in a background thread while a job runs."""

    def __init__(self, target: str) -> None:
        self.frames: list[TelemetryFrame] = []
        self._client = Client(target)
        self._stream = self._client.subscribe(sample_interval_s=0.02)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            for frame in self._stream:
                self.frames.append(frame)
        except Exception:
            pass  # the stream is cancelled when the recorder closes

    def close(self) -> None:
        self._client.close()
        self._thread.join(10)


def check_run(graph: TaskGraph, events: list[JobEvent], lane_count: int) -> None:
    """Every task ran exactly once, after its dependencies, one task per lane at a time."""
    starts: dict[str, list[float]] = defaultdict(list)
    ends: dict[str, list[float]] = defaultdict(list)
    lanes: dict[str, str] = {}
    for event in events:
        if event.kind == "task_started":
            starts[event.task_id].append(event.device_time_s)
            lanes[event.task_id] = event.lane_id
        elif event.kind == "task_finished":
            ends[event.task_id].append(event.device_time_s)
    ids = {task.id for task in graph.tasks}
    assert set(starts) == ids and all(len(v) == 1 for v in starts.values()), "each task starts once"
    assert set(ends) == ids and all(len(v) == 1 for v in ends.values()), "each task ends once"
    for task in graph.tasks:
        for dep in task.depends_on:
            assert ends[dep][0] <= starts[task.id][0], f"{task.id} started before {dep} finished"
        assert ends[task.id][0] - starts[task.id][0] >= task.duration_s - 1e-9
    by_lane: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for task_id, lane in lanes.items():
        by_lane[lane].append((starts[task_id][0], ends[task_id][0]))
    assert len(by_lane) <= lane_count
    for lane, spans in by_lane.items():
        spans.sort()
        for (_, end_a), (start_b, _) in itertools.pairwise(spans):
            assert end_a <= start_b, f"two tasks overlap on lane {lane}"
    sequence = [e.sequence for e in events]
    assert sequence == list(range(1, len(events) + 1)), "events are numbered without gaps"


def test_devices_are_listed(daemon: RunningDaemon) -> None:
    with Client(daemon.target) as client:
        devices = client.list_devices()
        assert [d.id for d in devices] == ["sim0"]
        device = client.get_device("sim0")
    assert len(device.heaters) == 64 and len(device.lanes) == 8
    assert device.limits.max_device_temperature_c == 85.0


def test_job_runs_to_completion_and_matches_telemetry(daemon: RunningDaemon) -> None:
    graph = twenty_task_graph()
    recorder = TelemetryRecorder(daemon.target)
    try:
        with Client(daemon.target) as client:
            device = client.get_device("sim0")
            job = client.submit_job(graph, name="twenty")
            assert job.state in (JobState.QUEUED, JobState.RUNNING)
            events = list(client.watch_job(job.id))
            done = client.get_job(job.id)
    finally:
        recorder.close()
    assert done.state == JobState.COMPLETED, done.failure_reason
    assert events[0].kind == "planned" and events[-1].kind == "completed"
    check_run(graph, events, len(device.lanes))
    assert done.result is not None and len(done.result.tasks) == 20
    during = [
        f
        for f in recorder.frames
        if done.device_start_time_s <= f.device_time_s <= done.device_end_time_s
    ]
    assert len(during) >= 10, "telemetry kept flowing while the job ran"
    resolution_c = max(s.resolution_c for s in device.sensors)
    seen_max_c = max(f.max_temperature_c for f in during)
    assert done.result.peak_temperature_c >= seen_max_c - resolution_c
    assert done.result.peak_temperature_c > device.ambient_c + 1.0, "the job heated the chip"
    assert done.schedule is not None
    assert done.result.makespan_s >= done.schedule.lower_bound_s - 1e-6
    stats = done.schedule.statistics
    assert stats is not None and stats.optimization_level, "plan statistics reach the client"
    assert stats.evaluations >= 1 and stats.replicas >= 1


def test_async_client_runs_a_job(daemon: RunningDaemon) -> None:
    graph = twenty_task_graph()

    async def run() -> tuple[list[JobEvent], int]:
        async with AsyncClient(daemon.target) as client:
            lanes = len((await client.get_device("sim0")).lanes)
            job = await client.submit_job(graph, view=JobView.BASIC)
            assert job.task_count == 20 and len(job.graph) == 0
            events = [event async for event in client.watch_job(job.id)]
            light = await client.get_job(job.id, view=JobView.BASIC)
            whole = await client.get_job(job.id)
            assert light.state == whole.state == JobState.COMPLETED
            assert len(light.graph) == 0 and len(whole.graph) == 20
            return events, lanes

    events, lanes = asyncio.run(run())
    assert events[-1].kind == "completed"
    check_run(graph, events, lanes)


def test_running_job_can_be_cancelled(daemon: RunningDaemon) -> None:
    graph = TaskGraph()
    graph.add_task("long", duration_s=60.0, heater_power_mw={"h33": 20.0})
    graph.add_task("after", duration_s=1.0, depends_on=["long"])
    with Client(daemon.target) as client:
        job = client.submit_job(graph)
        for event in client.watch_job(job.id):
            if event.kind == "task_started":
                break
        # Whole while it runs and once cancelled: the daemon keeps neither its graph nor its
        # schedule tasks in memory (JobBook.answer reads them from the journal).
        running = client.get_job(job.id)
        assert running.state == JobState.RUNNING and running.started_at is not None
        cancelled = client.cancel_job(job.id)
        assert cancelled.state == JobState.CANCELLED
        for whole in (running, cancelled):
            assert [t.id for t in whole.graph] == ["long", "after"]
            assert whole.schedule is not None and len(whole.schedule.tasks) == 2
        events = list(client.watch_job(job.id))
        state = client.get_device_state("sim0")
    kinds = [e.kind for e in events]
    assert kinds[-1] == "cancelled"
    assert "task_finished" in kinds and not any(e.task_id == "after" for e in events)
    assert state.active_job_id == "" and state.total_heater_power_mw == 0.0


def test_queued_job_can_be_cancelled_before_it_starts(daemon: RunningDaemon) -> None:
    blocker = TaskGraph()
    blocker.add_task("hold", duration_s=60.0)
    queued = TaskGraph()
    queued.add_task("never", duration_s=1.0)
    with Client(daemon.target) as client:
        first = client.submit_job(blocker)
        second = client.submit_job(queued)
        assert client.cancel_job(second.id).state == JobState.CANCELLED
        assert client.cancel_job(first.id).state == JobState.CANCELLED
        kinds = [e.kind for e in client.watch_job(second.id)]
    assert kinds == ["planned", "cancelled"]


def test_jobs_are_listed_newest_first(daemon: RunningDaemon) -> None:
    with Client(daemon.target) as client:
        graph = TaskGraph()
        graph.add_task("m", duration_s=0.0)
        job = client.submit_job(graph, name="listed")
        client.wait_job(job.id)
        jobs = client.list_jobs(limit=5)
        whole = client.get_job(job.id)
    assert jobs[0].id == job.id and jobs[0].name == "listed"
    assert len(jobs) <= 5
    # A listing counts a job's tasks without carrying them; GetJob has them.
    assert jobs[0].task_count == 1 and len(jobs[0].graph) == 0
    assert whole.task_count == 1 and len(whole.graph) == 1


def test_a_basic_view_answers_the_job_without_its_tasks(daemon: RunningDaemon) -> None:
    graph = TaskGraph()
    graph.add_task("long", duration_s=60.0, heater_power_mw={"h33": 20.0})
    graph.add_task("after", duration_s=1.0, depends_on=["long"])
    with Client(daemon.target) as client:
        basic = client.submit_job(graph, name="viewed", view=JobView.BASIC)
        # The same job whichever view: its figures, without the tasks it was sent.
        # A retry under the same key asks for the same job whichever view it wants.
        again = client.submit_job(graph, name="viewed", request_id=basic.request_id)
        assert again.id == basic.id and len(again.graph) == 2
        again = client.submit_job(
            graph, name="viewed", request_id=basic.request_id, view=JobView("basic")
        )
        whole = client.get_job(basic.id)
        light = client.get_job(basic.id, view=JobView.BASIC)
        cancelled = client.cancel_job(basic.id, view=JobView.BASIC)
        after = client.get_job(basic.id, view=JobView.FULL)
    for job in (basic, again, light, cancelled):
        assert job.id == basic.id and job.name == "viewed" and job.task_count == 2
        assert len(job.graph) == 0
        assert job.schedule is not None and job.schedule.tasks == ()
        assert job.schedule.makespan_s == whole.schedule.makespan_s > 60.0  # type: ignore[union-attr]
    assert [t.id for t in whole.graph] == ["long", "after"]
    assert whole.schedule is not None and len(whole.schedule.tasks) == 2
    assert cancelled.state == JobState.CANCELLED == after.state
    assert len(after.graph) == 2


def test_a_retried_submission_returns_the_first_job(daemon: RunningDaemon) -> None:
    from photon_sdk import AlreadyExists, InvalidArgument

    graph = TaskGraph()
    graph.add_task("only", duration_s=0.05, heater_power_mw={"h00": 5.0})
    with Client(daemon.target) as client:
        first = client.submit_job(graph, name="retried")
        assert len(first.request_id) == 32  # the SDK's own key, a UUID
        again = client.submit_job(graph, name="retried", request_id=first.request_id)
        assert again.id == first.id
        # Another job under the same key is refused, naming the key and the first job.
        other = TaskGraph()
        other.add_task("else", duration_s=0.05)
        with pytest.raises(AlreadyExists, match=first.id) as conflict:
            client.submit_job(other, request_id=first.request_id)
        assert [v.field for v in conflict.value.field_violations] == ["request_id"]
        with pytest.raises(InvalidArgument) as bad:
            client.submit_job(graph, request_id="has a space")
        assert [v.field for v in bad.value.field_violations] == ["request_id"]
        assert client.wait_job(first.id).state == JobState.COMPLETED
        assert sum(1 for j in client.list_jobs() if j.name == "retried") == 1


def test_kill_9_at_random_moments_loses_duplicates_and_strands_no_job() -> None:
    """A client submits with idempotency keys while photond is SIGKILLed and restarted; then
    it retries every key. Each key names exactly one job, every job ends, and each history
    replays numbered 1..n without a gap."""
    from photon_sdk import PhotonError

    rng = random.Random(11)
    state_dir = Path(tempfile.mkdtemp(prefix="pd-crash-"))
    graph = TaskGraph()
    graph.add_task("a", duration_s=0.3, heater_power_mw={"h00": 10.0})
    graph.add_task("b", duration_s=0.3, depends_on=["a"])
    keys = [uuid.uuid4().hex for _ in range(30)]
    acknowledged: dict[str, str] = {}
    daemons = [start_daemon(state_dir)]
    try:
        for _ in range(3):
            daemon = daemons[-1]

            def submit(target: str = daemon.target) -> None:
                with Client(target, timeout_s=5.0) as client:
                    for key in keys:
                        if key in acknowledged:
                            continue
                        try:
                            acknowledged[key] = client.submit_job(graph, request_id=key).id
                        except PhotonError:
                            return  # the daemon is gone: the next round retries

            submitter = threading.Thread(target=submit)
            submitter.start()
            time.sleep(rng.uniform(0.05, 0.6))
            daemon.process.kill()
            daemon.process.wait()
            submitter.join(30)
            daemons.append(start_daemon(state_dir))
        with Client(daemons[-1].target) as client:
            for key in keys:
                job = client.submit_job(graph, request_id=key)
                assert acknowledged.setdefault(key, job.id) == job.id, "a retry made a second job"
            jobs = client.list_jobs(limit=1000)
            per_key = Counter(job.request_id for job in jobs)
            assert all(per_key[key] == 1 for key in keys), per_key
            for job in jobs:
                ended = client.wait_job(job.id)
                assert ended.is_terminal
                sequences = [event.sequence for event in client.watch_job(job.id)]
                assert sequences == list(range(1, len(sequences) + 1)), (job.id, sequences)
    finally:
        for daemon in daemons:
            if daemon.process.poll() is None:
                cleanup(daemon)
        shutil.rmtree(state_dir, ignore_errors=True)


def test_finished_jobs_beyond_the_retention_count_are_forgotten(tmp_path: Path) -> None:
    from photon_sdk import NotFound

    config = tmp_path / "photond.toml"
    config.write_text("retain_finished_jobs = 1\n")
    daemon = start_daemon(None, "--config", str(config))
    try:
        graph = TaskGraph()
        graph.add_task("only", duration_s=0.05, heater_power_mw={"h00": 5.0})
        with Client(daemon.target) as client:
            first = client.wait_job(client.submit_job(graph, name="first").id)
            second = client.wait_job(client.submit_job(graph, name="second").id)
            deadline = time.monotonic() + 60.0
            while time.monotonic() < deadline and len(client.list_jobs()) > 1:
                time.sleep(0.5)
            assert [j.id for j in client.list_jobs()] == [second.id]
            with pytest.raises(NotFound):
                client.get_job(first.id)
    finally:
        cleanup(daemon)
