"""Planning in worker processes, so that a large graph never holds the daemon's interpreter.

A 100k-task SubmitJob spends seconds checking the graph, planning it and building its wire
messages. In the daemon's own process that work holds the GIL, in numba kernels and in single
protobuf and pickle calls of tens to hundreds of milliseconds, and the device loop (the safety
path) misses its periods meanwhile. Here it runs in `workers` spawned processes, each warmed
(model built, kernels loaded) before the daemon reports ready.

What crosses, both ways, is bytes in shared memory (`shared_parts`: the call's argument and
result are a block's name): in, the request body as gRPC received it (the daemon parses only
its small fields: `header_class`); out, the checked graph and the plan as pickles of a few
hundred tasks each and the job's graph and schedule as wire fragments of the same size.
The daemon copies and rebuilds them one slice at a time in a thread, so no single call holds
the GIL for more than a few milliseconds; concatenated, the fragments are the job's message,
which is what the journal stores and SubmitJob answers, without serialising it again.

At most `queue_limit` plans are in the pool, running or waiting; one more is refused with
RESOURCE_EXHAUSTED. A call whose client has gone gives up its place if its plan has not
started. A worker that dies (killed, out of memory) breaks the pool: the calls in it are
answered UNAVAILABLE and the pool is rebuilt; one that died while idle costs nobody a call.

Lifecycle: the workers are spawned first thing at start-up, before the daemon opens its
drivers: a worker's imports (numba, the planner, the protos) take as long as the daemon's own
set-up, so they run meanwhile. The worker then waits for its devices (their profiles are the
drivers'), handed to it as soon as the drivers are open (`give_devices`), and warms (model
built, kernels loaded) while the daemon builds its device loops; READY waits for it. A pool
that has had no plan for
`idle_exit_s` (config `planning_idle_exit_s`) shuts its processes down: each holds ~200 MB
resident (numba's LLVM, the kernels, the device models), as much as the rest of an idle
daemon. The next plan starts them again and waits for their warm-up, which loads the kernels
from numba's on-disk cache: the workers of the daemon's start compiled them (`warm_kernels`)
before READY, so a worker started later never compiles. READY thus
means the planner's kernels are compiled and cached; a plan sent while the workers are down
takes a worker's warm start longer (measured in `benchmarks/startup.py`). The daemon itself
loads only the device loops' kernels (`closed_loop.warm_up_loop`): it plans nothing, and the
planner's kernels loaded there held ~23 MB of an idle daemon for nothing.
"""

from __future__ import annotations

import asyncio
import io
import logging
import multiprocessing
import os
import pickle
import signal
import threading
import time
from collections.abc import Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace
from multiprocessing import resource_tracker
from multiprocessing.queues import SimpleQueue
from multiprocessing.synchronize import Barrier
from typing import Any

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.descriptor import Descriptor
from google.protobuf.message import DecodeError, Message

from photon.v1 import job_pb2
from photon_drivers.profile import DeviceProfile, LimitsSpec
from photond import heap, memory
from photond.blas import one_blas_thread
from photond.logs import configure_logging
from photond.planning.device_plan import warm_kernels, warm_model
from photond.planning.graph import CheckedGraph, CheckedTask
from photond.planning.plan import Plan, PlannedTask, Stats
from photond.rpc.plan_policy import check_plan
from photond.rpc.shared_parts import SharedParts, discard, opened, share
from photond.rpc.status import RequestError, quoted
from photond.rpc.validation import check_graph
from photond.tracing import Phase
from photond.wire import length_delimited, plan_to_proto, request_digest

log = logging.getLogger("photond.planning_pool")

# Tasks per slice: a slice's pickle loads, and its wire fragment parses, in well under 5 ms.
# At 500 a load held the interpreter 4.5-8.9 ms while a 100k-task answer was read back on the
# 2-core test machine (`perf` on benchmarks/loop_stall.py: the device loop waiting meanwhile).
SLICE_TASKS = 200
_PARENT_POLL_S = 1.0
# Added to the workers' nice value (lower CPU priority; see `_start_worker`).
WORKER_NICE = 10
_GRAPH_FIELD = 2  # `graph` in SubmitJobRequest and PlanJobRequest alike
_JOB_SCHEDULE_FIELD = job_pb2.Job.DESCRIPTOR.fields_by_name["schedule"].number


def header_class(request: Descriptor) -> type[Message]:
    """A message class that reads `request` without its graph.

    Same fields and numbers minus `graph`: parsing a body with it skips the graph's bytes
    (kept as an unknown field, a copy), so the daemon reads the small fields of a 100k-task
    request in a millisecond instead of building the graph.
    """
    proto = descriptor_pb2.DescriptorProto()
    request.CopyToProto(proto)
    kept = [f for f in proto.field if f.number != _GRAPH_FIELD]
    del proto.field[:]
    proto.field.extend(kept)
    proto.name = f"{request.name}Header"
    file = descriptor_pb2.FileDescriptorProto(
        name=f"photond/internal/{proto.name}.proto",
        package="photond.internal",
        syntax="proto3",
        dependency=[request.file.name],
    )
    file.message_type.add().CopyFrom(proto)
    pool = descriptor_pool.Default()
    try:
        pool.FindFileByName(file.name)
    except KeyError:
        pool.Add(file)
    return message_factory.GetMessageClass(
        pool.FindMessageTypeByName(f"photond.internal.{proto.name}")
    )


SubmitJobHeader = header_class(job_pb2.SubmitJobRequest.DESCRIPTOR)
PlanJobHeader = header_class(job_pb2.PlanJobRequest.DESCRIPTOR)


@dataclass(frozen=True)
class Planned:
    """A planned request, rebuilt in the daemon."""

    graph: CheckedGraph
    plan: Plan
    # SHA-256 of the request without its request_id (see wire.request_digest); "" for PlanJob.
    digest: str
    # Wire fragments whose concatenation is Job{graph, schedule} (SubmitJob) or Schedule
    # (PlanJob); prefix the job's other fields to have the whole message. A SubmitJob's last
    # fragment is Job{schedule} with the schedule's figures and no tasks (`figures`).
    fragments: tuple[bytes, ...]
    # The schedule alone, serialized (SubmitJob; what the job's first event carries).
    schedule_blob: bytes = b""
    # The worker's work, timed, for the call's trace (photond.tracing.record_phases).
    phases: tuple[Phase, ...] = ()

    @property
    def figures(self) -> bytes:
        """Job{schedule} with the schedule's figures (makespan, peak, bounds) and no tasks: all
        of the plan a job's message keeps in memory (SubmitJob)."""
        return self.fragments[-1]


# -- in the worker ---------------------------------------------------------------------------

# Each device's profile and control period (the planner's tick), by device id.
_Devices = dict[str, tuple[DeviceProfile, float]]
_devices: _Devices = {}
_max_tasks = 0
# The daemon this worker plans for: its answers' shared memory blocks are named after it.
_daemon_pid: int | None = None
# Every worker of the pool meets here once warm (`_ready`); None until `_start_worker`.
_all_warm: Barrier | None = None
# How long a warm worker waits at `_all_warm` for the others (a cold compile takes minutes).
ALL_WARM_WAIT_S = 3600.0
# How long a retired pool's hand-off threads get to finish (each wrote its messages long ago).
HANDOFF_WAIT_S = 1.0


def _start_worker(
    handoff: SimpleQueue[_Devices | None],
    all_warm: Barrier,
    max_tasks: int,
    loops_running: bool,
    log_level: str,
) -> None:
    global _max_tasks, _all_warm, _daemon_pid
    _all_warm = all_warm
    _daemon_pid = os.getppid()
    # The daemon's log (the stream is its stderr, inherited): a cold start's progress is the
    # workers' compile (`warm_up` logs each step), and a planner's warning is the daemon's.
    configure_logging(log_level)
    # Ctrl-C and SIGHUP are the daemon's to handle (it stops or reloads, then closes the pool);
    # a worker whose daemon died without closing it exits rather than linger.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    # Planning is batch work: at a lower CPU priority, the daemon's device loop (the safety
    # path) and its RPC threads get a core first while plans keep the others busy. A worker of
    # the daemon's start-up lowers it once warm: no device loop runs before READY, and READY
    # waits for this warm-up, which on a busy machine would otherwise wait behind every other
    # process's work.
    if loops_running:
        os.nice(WORKER_NICE)
    threading.Thread(target=_exit_with, args=(_daemon_pid,), daemon=True).start()
    one_blas_thread()  # as the daemon (photond.blas): its model's eigendecomposition is next
    # This process has imported the planner by now (unpickling this function did); the
    # devices come once the daemon's drivers are open (`PlanningPool.give_devices`). At the
    # daemon's start that is later than now: the kernels load meanwhile, and READY waits only
    # for the devices' models after the drivers open (benchmarks/startup.py, warm start). The
    # kernels loaded on the sketch are the ones a device's plans run (their machine code
    # depends on argument types only): a device needs its model, not a run of each path.
    warm_kernels()
    devices = handoff.get()
    if devices is None:  # the daemon stopped before it had devices: nothing to warm
        return
    _devices.update(devices)
    _max_tasks = max_tasks
    for profile, period_s in set(devices.values()):
        warm_model(profile, period_s)
    if not loops_running:
        os.nice(WORKER_NICE)


def _put_each(handoff: SimpleQueue[_Devices | None], devices: _Devices | None, count: int) -> None:
    for _ in range(count):
        handoff.put(devices)


def _stop_resource_tracker() -> None:
    """Stop multiprocessing's resource tracker process (see `PlanningPool._after_exit`).

    Its `_stop` is what CPython's own tests call; where a Python lacks it the tracker stays.
    The next pool's first spawn starts a tracker again (`ensure_running`).
    """
    stop = getattr(resource_tracker._resource_tracker, "_stop", None)
    if stop is not None:
        stop()


def _exit_with(parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(_PARENT_POLL_S)
    os._exit(1)


def _ready() -> bool:
    """Return once every worker of the pool has warmed (its initializer done): one call per
    worker waits at the barrier, so a worker that warmed first cannot answer them all while
    the others still compile, and the daemon's READY waits for the slowest."""
    assert _all_warm is not None
    _all_warm.wait(ALL_WARM_WAIT_S)
    return True


def _slices(items: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    return [items[k : k + SLICE_TASKS] for k in range(0, len(items), SLICE_TASKS)] or [()]


def _plan_in_worker(
    submit: bool,
    shared_body: SharedParts,
    device_id: str,
    margin_c: float,
    limits: LimitsSpec | None = None,
) -> tuple[str, Any]:
    """("ok", `_Answer`) or ("error", (status code name, message, field)): exceptions of
    ours do not cross. The body is read out of shared memory (and its block unlinked) first."""
    with opened(shared_body) as next_part:
        body = next_part()
    try:
        return "ok", _shared(_plan(submit, body, device_id, margin_c, limits))
    except RequestError as error:
        return "error", (error.code.name, error.message, error.field)


# What `_plan` makes: (digest, graph pickles, plan pickle, plan task pickles, fragments,
# schedule, phases).
_Made = tuple[str, list[bytes], bytes, list[bytes], list[bytes], bytes, tuple[Phase, ...]]
# What the worker's call returns: (digest, the bytes of `_Made` in shared memory, how many graph
# pickles, plan task pickles and fragments they hold, phases). Returned whole, a 100k-task
# plan's ~23 MB were unpickled in one call that held the daemon's interpreter 10-12 ms.
_Answer = tuple[str, SharedParts, tuple[int, int, int], tuple[Phase, ...]]


def _shared(made: _Made) -> _Answer:
    """`made`'s bytes put in shared memory, in order (`_rebuild` reads them back)."""
    digest, graph_pickles, plan_pickle, plan_task_pickles, fragments, schedule_blob, phases = made
    parts = [*graph_pickles, plan_pickle, *plan_task_pickles, *fragments, schedule_blob]
    counts = (len(graph_pickles), len(plan_task_pickles), len(fragments))
    return digest, share(parts, _daemon_pid), counts, phases


def _plan(
    submit: bool, body: bytes, device_id: str, margin_c: float, limits: LimitsSpec | None = None
) -> _Made:
    request: job_pb2.SubmitJobRequest | job_pb2.PlanJobRequest
    request = job_pb2.SubmitJobRequest() if submit else job_pb2.PlanJobRequest()
    try:
        request.ParseFromString(body)
    except (DecodeError, RecursionError, ValueError) as exc:
        raise RequestError(
            grpc.StatusCode.INVALID_ARGUMENT,
            f"graph: the {len(body)}-byte body does not decode ({str(exc)[:200]})",
            "graph",
        ) from None
    profile, period_s = _devices[device_id]
    if limits is not None and limits != profile.limits:
        # Limits an admin set (UpdateLimits): the first plan under them builds the device's
        # model for this profile again (cached per profile, a few of them).
        profile = replace(profile, limits=limits)
    validation = request.validation_level if isinstance(request, job_pb2.SubmitJobRequest) else 0
    started_ns = time.time_ns()
    checked = check_graph(request.graph, profile, _max_tasks)
    checked_ns = time.time_ns()
    plan = check_plan(
        checked,
        profile,
        request.optimization_level,
        validation,
        margin_c=margin_c,
        period_s=period_s,
    )
    phases = (
        Phase("photond.validate", started_ns, checked_ns, {"photond.tasks": len(checked.tasks)}),
        Phase("photond.optimize", checked_ns, time.time_ns(), _plan_attributes(plan, validation)),
    )
    missed = plan.missed_deadlines(checked)
    if missed:
        task_id, end_s, deadline_s = missed[0]
        index = next(i for i, t in enumerate(request.graph.tasks) if t.id == task_id)
        raise RequestError(
            grpc.StatusCode.FAILED_PRECONDITION,
            f"graph.tasks[{index}].deadline_s: task {quoted(task_id)} cannot finish before its "
            f"deadline {deadline_s:g} s (earliest planned end {end_s:g} s)",
            f"graph.tasks[{index}].deadline_s",
        )
    schedule = plan_to_proto(plan)
    if not isinstance(request, job_pb2.SubmitJobRequest):
        return "", [], b"", [], [schedule.SerializeToString()], b"", phases
    tasks = request.graph.tasks
    fragments = [
        job_pb2.Job(graph=job_pb2.TaskGraph(tasks=tasks[k : k + SLICE_TASKS])).SerializeToString()
        for k in range(0, len(tasks), SLICE_TASKS)
    ]
    scheduled = schedule.tasks
    schedule_parts = [
        job_pb2.Schedule(tasks=scheduled[k : k + SLICE_TASKS]).SerializeToString()
        for k in range(0, len(scheduled), SLICE_TASKS)
    ]
    del schedule.tasks[:]
    schedule_parts.append(schedule.SerializeToString())  # its figures, last (`Planned.figures`)
    fragments += [length_delimited(_JOB_SCHEDULE_FIELD, part) for part in schedule_parts]
    return (
        request_digest(request),
        [pickle.dumps(s, protocol=5) for s in _slices(checked.tasks)],
        pickle.dumps(replace(plan, tasks=()), protocol=5),
        [pickle.dumps(s, protocol=5) for s in _slices(plan.tasks)],
        fragments,
        b"".join(schedule_parts),
        phases,
    )


def _plan_attributes(plan: Plan, validation_level: int) -> dict[str, str | int | float]:
    """What the optimise span tells of a plan: level, effort, result and its gap."""
    attributes: dict[str, str | int | float] = {
        "photond.planning.planner": plan.planner,
        "photond.planning.validation_level": validation_level,
        "photond.makespan_s": plan.makespan_s,
        "photond.lower_bound_s": plan.lower_bound_s,
        "photond.gap_to_bound": plan.gap_to_bound,
        "photond.predicted_peak_c": plan.predicted_peak_temperature_c,
    }
    stats = plan.statistics
    if stats is not None:
        attributes["photond.planning.level"] = stats.level.lower()
        attributes["photond.planning.evaluations"] = stats.evaluations
        attributes["photond.planning.replicas"] = stats.replicas
        attributes["photond.planning.rounds"] = stats.rounds
    return attributes


# -- in the daemon ---------------------------------------------------------------------------


# What a worker's pickles are made of (`_plan`), by module and name.
_PLAN_CLASSES = {(c.__module__, c.__qualname__): c for c in (CheckedTask, PlannedTask, Plan, Stats)}


class _PlanUnpickler(pickle.Unpickler):
    """Reads a worker's pickles, finding their classes in a table of the few a plan is made of.

    pickle's own `find_class` looks each class up by the name the pickle holds, a new string
    per pickle, and CPython's type cache keeps a reference to the name of each lookup it caches
    (its slot chosen by the string's address): every slice's "CheckedTask" or "PlannedTask"
    outlived its job. 194 of them after a burst of five 20k-task jobs (benchmarks/
    memory_survivors.py), each in a pool among the job's freed objects, kept 27 pymalloc arenas
    (27 MiB) of the daemon's RSS. A table lookup keeps nothing, and a pickle naming any other
    class is refused.
    """

    def find_class(self, module: str, name: str) -> Any:
        found = _PLAN_CLASSES.get((module, name))
        if found is None:
            raise pickle.UnpicklingError(f"a plan's pickle names {module}.{name}")
        return found


def _loads(blob: bytes) -> Any:
    return _PlanUnpickler(io.BytesIO(blob)).load()


def _rebuild(answer: _Answer) -> Planned:
    """The worker's answer read out of shared memory a part at a time (each a short call), its
    pickles loaded as they come; the shared block is unlinked."""
    digest, shared, (graph_count, plan_task_count, fragment_count), phases = answer
    # Hundreds of thousands of new objects: without `building` they trigger full collections
    # of the whole heap (~140 ms each with a large job in memory), each a stalled device loop.
    with heap.building(), opened(shared) as next_part:
        tasks: list[CheckedTask] = []
        for _ in range(graph_count):
            tasks.extend(_loads(next_part()))
        plan_pickle = next_part()
        planned: list[PlannedTask] = []
        for _ in range(plan_task_count):
            planned.extend(_loads(next_part()))
        fragments = [next_part() for _ in range(fragment_count)]
        schedule_blob = next_part()
        plan: Plan = _loads(plan_pickle) if plan_pickle else Plan((), 0.0, 0.0, "", 0.0)
        return Planned(
            CheckedGraph(tuple(tasks)),
            replace(plan, tasks=tuple(planned)),
            digest,
            tuple(fragments),
            schedule_blob,
            phases,
        )


async def _shared_body(body: bytes) -> SharedParts:
    """`body` put in shared memory by a thread, in pieces (`shared_parts`): pickled into the
    worker's call, a 10 MB body was one copy that held the interpreter. A block made for a
    call that was cancelled meanwhile is unlinked once made."""
    sharing = asyncio.get_running_loop().run_in_executor(None, share, (body,))
    try:
        return await asyncio.shield(sharing)
    except asyncio.CancelledError:
        sharing.add_done_callback(_discard_made)
        raise


def _discard_made(sharing: asyncio.Future[SharedParts]) -> None:
    if not sharing.cancelled() and sharing.exception() is None:
        discard(sharing.result())


def _discard(future: Future[tuple[str, Any]]) -> None:
    """Unlink the shared answer of a call whose caller has gone."""
    if future.cancelled() or future.exception() is not None:
        return
    status, value = future.result()
    if status == "ok":
        discard(value[1])


@dataclass
class _Retired:
    """A pool `retire_if_idle` stopped, for `PlanningPool._after_exit`, which lets go of each
    part as it is done with it: the thread's arguments hold this to its end, and would hold
    the pool's queues, and their semaphores, with it."""

    executor: ProcessPoolExecutor | None
    handoff: SimpleQueue[_Devices | None] | None
    handing: list[threading.Thread]


class PlanningPool:
    """The daemon's planning processes; see the module docstring."""

    def __init__(
        self,
        max_tasks: int,
        workers: int = 1,
        queue_limit: int = 8,
        idle_exit_s: float = 0.0,
    ) -> None:
        # Until `give_devices`: the workers spawned meanwhile wait for them (`_start_worker`).
        self._devices: _Devices | None = None
        self._max_tasks = max_tasks
        self.workers = workers
        self.queue_limit = queue_limit
        # Seconds without a plan before the workers exit; 0: never (a reload may change it).
        self.idle_exit_s = idle_exit_s
        self._lock = threading.Lock()
        self._in_pool = 0
        self._last_plan_s = time.monotonic()
        self._executor: ProcessPoolExecutor | None = None
        # The executor's workers take their devices from here, one message each, written by
        # the threads in `_handing` (`_hand`).
        self._handoff: SimpleQueue[_Devices | None] | None = None
        self._handing: list[threading.Thread] = []
        self._warming: list[Future[bool]] = []
        self._started = False
        self._retirer: asyncio.Task[None] | None = None
        # Answers being read out of shared memory (`_rebuild`): the resource tracker stays.
        self._reading = 0

    def _pool(self) -> ProcessPoolExecutor:
        # Under the lock: a pool made meanwhile keeps the resource tracker (`_after_exit`).
        with self._lock:
            return self._pool_locked()

    def _pool_locked(self) -> ProcessPoolExecutor:
        if self._executor is None:
            context = multiprocessing.get_context("spawn")
            # A queue, not initargs: the workers spawn before the daemon has the devices.
            self._handoff = context.SimpleQueue()
            self._handing = []
            all_warm = context.Barrier(self.workers)
            self._executor = ProcessPoolExecutor(
                self.workers,
                mp_context=context,
                initializer=_start_worker,
                # Workers spawned after `start` warm while the device loops run.
                initargs=(
                    self._handoff,
                    all_warm,
                    self._max_tasks,
                    self._started,
                    logging.getLevelName(logging.getLogger().getEffectiveLevel()),
                ),
            )
            if self._devices is not None:
                self._hand(self._devices)
        return self._executor

    def _hand(self, devices: _Devices | None) -> None:
        """One message per worker (each worker's initializer takes exactly one), written by a
        thread of its own: a pipe holds 64 KB, and a worker still importing reads nothing."""
        assert self._handoff is not None
        thread = threading.Thread(
            target=_put_each,
            args=(self._handoff, devices, self.workers),
            name="photond-handoff",
            daemon=True,  # a message no worker reads (one died first) never holds the exit
        )
        thread.start()
        self._handing.append(thread)

    def spawn(self) -> None:
        """Spawn the workers now; they import the planner, then wait for `give_devices`."""
        self._warming = self._warm(self._pool())

    def give_devices(self, devices: Mapping[str, tuple[DeviceProfile, float]]) -> None:
        """The devices to plan for (profile and control period by id): the workers spawned
        so far warm for them now, and every worker started later does at its start."""
        self._devices = dict(devices)
        if self._executor is not None:
            self._hand(self._devices)

    @property
    def in_flight(self) -> int:
        """Plans in the pool now, running or waiting."""
        return self._in_pool

    async def start(self) -> None:
        """Wait until every worker (spawned now unless `spawn` did) has warmed its kernels for
        the devices of `give_devices`; from then on, stop them after `idle_exit_s` without a
        plan."""
        if self._devices is None:
            raise RuntimeError("PlanningPool.start before give_devices: nothing to warm for")
        if not self._warming:
            self.spawn()
        warming, self._warming = self._warming, []
        await asyncio.gather(*(asyncio.wrap_future(f) for f in warming))
        self._started = True
        self._last_plan_s = time.monotonic()
        if self._retirer is None:
            self._retirer = asyncio.create_task(self._retire_when_idle())

    async def _retire_when_idle(self) -> None:
        while True:
            # Checked often enough for a short idle time, and at least every second so that a
            # reloaded `idle_exit_s` applies soon.
            await asyncio.sleep(min(1.0, self.idle_exit_s / 4) if self.idle_exit_s > 0 else 1.0)
            self.retire_if_idle(time.monotonic())

    def retire_if_idle(self, now_s: float) -> bool:
        """Shut the workers down if no plan has been in the pool for `idle_exit_s` (by
        `time.monotonic()` `now_s`); returns whether it did. The next plan starts new ones."""
        with self._lock:
            executor = self._executor
            if (
                executor is None
                or self.idle_exit_s <= 0
                or self._in_pool
                or now_s - self._last_plan_s < self.idle_exit_s
            ):
                return False
            self._executor = None
            retired = _Retired(executor, self._handoff, self._handing)
            self._handoff, self._handing = None, []
        log.info(
            "planning processes stopped after %g s without a plan; the next plan starts them",
            self.idle_exit_s,
            extra={"planning_workers": self.workers},
        )
        # Shut down by the thread, which waits for it: a first `shutdown(wait=False)` here
        # would let go of the pool's manager thread, and a second one could no longer wait.
        del executor
        threading.Thread(
            target=self._after_exit,
            args=(retired,),
            name="photond-pool-exit",
            daemon=True,
        ).start()
        return True

    def _after_exit(self, retired: _Retired) -> None:
        """Once a retired pool's processes have exited: a trim, then multiprocessing's resource
        tracker stopped unless a new pool has started meanwhile.

        The trim: the daemon alone maps numba's compiler now, so its pages can go
        (`memory.page_out_compiler` skips pages another process maps). The tracker is a process
        of its own (13 MB resident, measured: benchmarks/startup.py) that unlinks the named
        semaphores and shared memory a dead process left. The pool's queues were its last:
        they are unregistered as they are freed, and a plan's shared answer is read before its
        call returns. A hand-off no worker read (one died first) keeps its queue, and the
        tracker with it.
        """
        assert retired.executor is not None
        retired.executor.shutdown(wait=True)
        retired.executor = None
        memory.trim_soon()
        for thread in retired.handing:
            thread.join(HANDOFF_WAIT_S)
        if any(thread.is_alive() for thread in retired.handing):
            log.debug("a planning process's devices were never read: the resource tracker stays")
            return
        retired.handoff = None
        with self._lock:
            if self._executor is None and not self._reading:
                _stop_resource_tracker()

    def _warm(self, pool: ProcessPoolExecutor) -> list[Future[bool]]:
        # One call per worker at once: the pool spawns a worker for each call it cannot place,
        # and each call holds its worker until all have warmed (`_ready`).
        return [pool.submit(_ready) for _ in range(self.workers)]

    async def plan(
        self,
        submit: bool,
        body: bytes,
        device_id: str,
        margin_c: float,
        limits: LimitsSpec | None = None,
    ) -> Planned:
        """Check and plan a SubmitJob (`submit`) or PlanJob request body for a device, held to
        `limits` (the device's limits in force) when given, else to its profile's.

        Raises:
            RequestError: the request's own faults (INVALID_ARGUMENT, FAILED_PRECONDITION), a
                full pool (RESOURCE_EXHAUSTED) or a worker that died (UNAVAILABLE).
        """
        with self._lock:
            if self._in_pool >= self.queue_limit:
                raise RequestError(
                    grpc.StatusCode.RESOURCE_EXHAUSTED,
                    f"{self._in_pool} plans are running or waiting, the most this daemon takes "
                    f"(planning_queue_limit = {self.queue_limit}); retry later",
                )
            self._in_pool += 1
        try:
            # The pool first: while it exists the resource tracker stays (`_after_exit`), which
            # would unlink the body's block if it stopped.
            self._pool()
            shared_body = await _shared_body(body)
        except BaseException:
            self._release(None)
            raise
        try:
            pool, future = self._submit(submit, shared_body, device_id, margin_c, limits)
        except BrokenProcessPool:
            discard(shared_body)
            self._release(None)
            raise self._unavailable() from None
        future.add_done_callback(self._release)
        try:
            status, value = await asyncio.wrap_future(future)
        except asyncio.CancelledError:
            # Gives the place back if the plan has not started (nobody will read its body);
            # else its answer, which nobody will read, is unlinked when it comes.
            if future.cancel():
                discard(shared_body)
            else:
                future.add_done_callback(_discard)
            raise
        except BrokenProcessPool:
            discard(shared_body)  # unless its worker read it before it died
            self._replace(pool)
            raise self._unavailable() from None
        if status == "error":
            code, message, field = value
            raise RequestError(grpc.StatusCode[code], message, field)
        with self._lock:
            self._reading += 1
        try:
            return await asyncio.to_thread(_rebuild, value)
        finally:
            with self._lock:
                self._reading -= 1

    def _submit(
        self,
        submit: bool,
        shared_body: SharedParts,
        device_id: str,
        margin_c: float,
        limits: LimitsSpec | None,
    ) -> tuple[ProcessPoolExecutor, Future[tuple[str, Any]]]:
        pool = self._pool()
        args = (submit, shared_body, device_id, margin_c, limits)
        try:
            return pool, pool.submit(_plan_in_worker, *args)
        except BrokenProcessPool:
            # A worker died while idle (nothing of this call ran): a new pool, one more try.
            pool = self._replace(pool)
            return pool, pool.submit(_plan_in_worker, *args)

    def _release(self, _: object) -> None:
        with self._lock:
            self._in_pool -= 1
            self._last_plan_s = time.monotonic()
            empty = self._in_pool == 0
        if empty:
            # A plan's bytes and pickles pass through the daemon: give their pages back.
            memory.trim_soon()

    def _replace(self, broken: ProcessPoolExecutor) -> ProcessPoolExecutor:
        """A new pool for `broken`, once: every call that was in a broken pool learns of it,
        and only the first may replace it (the others would shut down its replacement)."""
        if self._executor is broken:
            log.error("a planning process died; starting new ones")
            self._executor = None
            broken.shutdown(wait=False, cancel_futures=True)
            # Warm the replacements now, not on the next call: a worker's warm-up takes
            # seconds, which the next client would otherwise spend of its deadline.
            self._warm(self._pool())
        return self._pool()

    @staticmethod
    def _unavailable() -> RequestError:
        return RequestError(
            grpc.StatusCode.UNAVAILABLE, "the planning process died while planning; retry"
        )

    def close(self) -> None:
        if self._retirer is not None:
            self._retirer.cancel()
            self._retirer = None
        executor, self._executor = self._executor, None
        if executor is not None:
            if self._devices is None:
                # Workers still waiting for their devices (a start-up that failed before the
                # drivers were open): let them through, or the shutdown would wait forever.
                self._hand(None)
            executor.shutdown(wait=True, cancel_futures=True)
