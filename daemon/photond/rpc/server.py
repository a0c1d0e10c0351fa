"""Assemble the daemon: journal, devices, gRPC server, health and reflection; run and stop.

Start-up order matters: the journal is read and devices are sampled once before the server
listens, so the first client already sees real state. Shutdown is the reverse: stop intake,
report NOT_SERVING, park every device (running jobs fail with the reason; queued jobs stay
journaled and run after the next start), then close the listeners.

Health: the server ("") and the photon.v1 services report SERVING while the daemon runs. Each
device also has its own health service name, `photon.v1.Device/<device_id>`, which follows
the device's serving status (its circuit breaker and its last error) as DeviceState does.
Options named `breaker_*` in a device's config configure its breaker and never reach the
driver.

One daemon per state directory and per socket: the directory is locked (`StateLock`) before the
journal opens, a Unix socket path a live daemon answers on is refused rather than unlinked, and
TCP ports are bound without SO_REUSEPORT, so a second daemon fails to start instead of running
the same queued jobs or splitting the clients.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import functools
import logging
import os
import socket
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from grpc_reflection.v1alpha import reflection
from opentelemetry.instrumentation.grpc import aio_server_interceptor

from photon.v1 import (
    device_pb2,
    job_pb2,
    telemetry_pb2,
)
from photon_drivers.breaker import BreakerConfig
from photon_drivers.clock import ScaledClock
from photon_drivers.interface import Driver, DriverError
from photon_drivers.registry import open_or_defer
from photond import heap, memory
from photond.config import DaemonConfig, DeviceConfig
from photond.jobs.book import JobBook
from photond.jobs.journal import Journal
from photond.loop.closed_loop import warm_loop_kernels
from photond.loop.runtime import DeviceRuntime
from photond.metrics.export import serve_metrics
from photond.metrics.observed import DeviceObservations
from photond.metrics.rpc import RpcMetricsInterceptor
from photond.rpc.devices import DeviceTable, ManagedDevice
from photond.rpc.handlers import add_servicer
from photond.rpc.limits import merged_limits
from photond.rpc.planning_pool import PlanJobHeader, PlanningPool, SubmitJobHeader
from photond.rpc.services import DeviceService, JobService, TelemetryService
from photond.rpc.shared_parts import sweep_orphans
from photond.rpc.status import RequestError
from photond.rpc.stream_close import StreamCloseInterceptor
from photond.rpc.validation import check_graph
from photond.security.access import AccessControl
from photond.security.files import (
    owner_only_umask,
    private_directory,
    private_file,
    share_socket,
)
from photond.security.interceptor import SecurityInterceptor
from photond.security.settings import SecurityConfig
from photond.security.splice import Splicer, private_socket_path
from photond.wire import plan_from_proto

log = logging.getLogger("photond")

SERVICE_NAMES = (
    device_pb2.DESCRIPTOR.services_by_name["DeviceService"].full_name,
    job_pb2.DESCRIPTOR.services_by_name["JobService"].full_name,
    telemetry_pb2.DESCRIPTOR.services_by_name["TelemetryService"].full_name,
)
SHUTDOWN_GRACE_S = 2.0
# What a stream the daemon ends as it stops says.
STOPPING = "photond is stopping"
# Largest request body: room for `max_tasks_per_job` tasks of every heater (a task with 64
# heater powers encodes to ~1 KiB), so the configured maximum is reachable and no more.
BYTES_PER_TASK = 2048
MIN_MESSAGE_BYTES = 4 * 1024 * 1024
DEVICE_HEALTH_PREFIX = "photon.v1.Device/"
# Methods whose graph is parsed in the planning pool, not here (see rpc.handlers).
SWITCH_INTERVAL_S = 0.001
# Seconds between passes of the retention of finished jobs (config retain_finished_*), and
# the least between two: a job's end or a reload asks for a pass at once (`prune_soon`), and a
# burst of job ends makes one a second at most.
PRUNE_INTERVAL_S = 10.0
PRUNE_SPACING_S = 1.0
RAW_METHODS = {"SubmitJob": SubmitJobHeader, "PlanJob": PlanJobHeader}


class StateLock:
    """An exclusive lock on the state directory, held for the daemon's lifetime.

    `flock` rather than a PID file alone: the kernel drops the lock when the process dies
    however it dies (kill -9 included), so a stale file never blocks a restart. The file names
    the holder's PID for the refusal message.
    """

    def __init__(self, state_dir: Path) -> None:
        # 0700: the journal holds every job's graph and owner (photond.security.files).
        private_directory(state_dir)
        self.path = state_dir / "photond.lock"
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(self._fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(self._fd)
            raise RuntimeError(
                f"state directory {state_dir} is in use by another photond (PID {holder})"
            ) from None
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, f"{os.getpid()}\n".encode(), 0)

    def release(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self._fd)


def _unix_socket_is_live(path: Path) -> bool:
    """Whether a process accepts connections on the Unix socket at `path`."""
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(1.0)
    try:
        probe.connect(str(path))
    except OSError as exc:
        if exc.errno in (errno.ECONNREFUSED, errno.ENOENT):
            return False
        raise
    finally:
        probe.close()
    return True


def _open_device(
    device: DeviceConfig, clock: ScaledClock
) -> tuple[DeviceConfig, BreakerConfig, Driver, DriverError | None]:
    breaker, driver_options = BreakerConfig.split_options(device.options)
    # A device that cannot be reached yet starts with its breaker open (its probes open the
    # driver once it answers); photond serves the others meanwhile.
    driver, unreachable = open_or_defer(device.driver, driver_options, clock)
    return device, breaker, driver, unreachable


def device_health_name(device_id: str) -> str:
    """The grpc.health.v1 service name that reports one device's serving status."""
    return DEVICE_HEALTH_PREFIX + device_id


class Daemon:
    def __init__(self, config: DaemonConfig) -> None:
        self.config = config
        # Before the daemon's large allocations: glibc's thresholds fixed, so that the threads'
        # heaps give their free tops back after a burst of jobs (photond.memory).
        memory.configure_heap()
        self.lock = StateLock(config.state_dir)
        # Refused now, not after minutes of compiling: `_bind` checks again as it binds.
        for address in config.listen:
            path = Path(address[len("unix:") :])
            if address.startswith("unix:") and path.is_socket() and _unix_socket_is_live(path):
                self.lock.release()
                raise RuntimeError(f"another daemon is serving on {address}")
        # Blocks a killed daemon (or its workers) made but had not yet handed to the resource
        # tracker: nothing else would ever unlink them (photond.rpc.shared_parts).
        swept = sweep_orphans()
        if swept:
            log.info("shared memory of stopped daemons removed", extra={"blocks": len(swept)})
        # Spawned first: a planning process imports the planner while this one opens the
        # journal and the drivers, then warms while the device loops are built; READY waits
        # for max(its start, the daemon's set-up), not their sum (benchmarks/startup.py).
        self.planner = PlanningPool(
            config.max_tasks_per_job,
            config.planning_workers,
            config.planning_queue_limit,
            config.planning_idle_exit_s,
        )
        self.planner.spawn()
        log.info("planning processes spawned", extra={"planning_workers": self.planner.workers})
        try:
            self._set_up(config)
        except BaseException:
            self.planner.close()
            self.lock.release()
            raise

    def _set_up(self, config: DaemonConfig) -> None:
        """Journal, drivers, device loops, services, gRPC server, metrics (not yet serving)."""
        private_file(config.state_dir / "jobs.sqlite3")
        self.journal = Journal(config.state_dir / "jobs.sqlite3")
        self.book = JobBook(self.journal)
        clock = ScaledClock(config.time_scale)
        # The drivers open on threads of their own while this one loads the device loops'
        # kernels: a simulated chip's set-up is mostly an eigendecomposition (~0.5 s for the
        # shipped chip), which lets the interpreter go, so READY waits for the longer of the
        # two, not their sum (benchmarks/startup.py, warm start).
        with ThreadPoolExecutor(len(config.devices), thread_name_prefix="driver-open") as opener:
            opening = [opener.submit(_open_device, d, clock) for d in config.devices]
            warm_loop_kernels(config.control_period_s, config.closed_loop)
            opened = [future.result() for future in opening]
        log.info("drivers open", extra={"devices": len(opened)})
        # The profiles are the drivers': the planning processes warm for them from here on.
        self.planner.give_devices(
            {d.id: (driver.profile, config.control_period_s) for d, _, driver, _ in opened}
        )
        managed = []
        for d, breaker, driver, unreachable in opened:
            runtime = DeviceRuntime(
                d.id,
                driver,
                self.book,
                config.control_period_s,
                breaker,
                config.closed_loop,
                config.telemetry,
            )
            if unreachable is not None:
                log.error(
                    "device unreachable at start-up: its breaker is open until it answers",
                    extra={"device": d.id, "error": str(unreachable)},
                )
                runtime.unreachable(str(unreachable))
            managed.append(ManagedDevice(id=d.id, driver_name=d.driver, runtime=runtime))
        self.devices = DeviceTable(managed)
        # Who may call what, TLS of the TCP listeners, per-identity limits (photond.security).
        self.access = AccessControl(config.security)
        self.jobs = JobService(
            self.devices,
            self.book,
            self.planner,
            planning_margin_c=config.closed_loop.planning_margin_c,
            access=self.access,
        )
        self.health = HealthServicer()
        message_bytes = max(MIN_MESSAGE_BYTES, config.max_tasks_per_job * BYTES_PER_TASK)
        self.server = grpc.aio.server(
            # Traced and counted first, so that calls the security check refuses are too; and
            # outside those, streams closed in their own task (`stream_close`).
            interceptors=[
                StreamCloseInterceptor(),
                aio_server_interceptor(),  # type: ignore[no-untyped-call]
                RpcMetricsInterceptor(),
                SecurityInterceptor(self.access),
            ],
            options=[
                ("grpc.so_reuseport", 0),
                ("grpc.max_receive_message_length", message_bytes),
                ("grpc.max_send_message_length", message_bytes),
            ],
        )
        self.addresses: list[str] = []
        # The Unix sockets photond accepts on itself to read peer credentials (`_bind`).
        self.splicers: list[Splicer] = []
        self._pruner: asyncio.Task[None] | None = None
        self._prune_wanted = asyncio.Event()
        # Bound here, after the checks above: a second daemon is refused for its state
        # directory or socket, not for the metrics port.
        DeviceObservations(self.devices, self.planner)
        self.metrics = serve_metrics(config.metrics_listen)

    async def start(self) -> list[str]:
        """Warm the planner, restore jobs, start the device loops, listen; returns addresses."""
        # The planner's kernels compiled and each device's model built before anyone can
        # submit: a cold numba compile takes tens of seconds (cached on disk afterwards). The
        # planning processes, spawned in __init__, do it; this process plans nothing (the device
        # loops' kernels loaded as they were built, `closed_loop.warm_up_loop`).
        log.info("compiling the planner's kernels (a cold start takes minutes, a warm one seconds)")
        await self.planner.start()
        log.info("kernels ready", extra={"planning_workers": self.planner.workers})
        # What warming built (numba's compiled state above all) lives as long as the daemon:
        # out of the collector's walks, which would otherwise pause the device loops.
        heap.freeze()
        # Building the simulated chip's plant and the models leaves ~35 MB of freed heap
        # between live blocks (measured: benchmarks/photon_bench/memory_causes): give it back.
        memory.trim()
        # And numba's compiler, which the loaded kernels no longer need (pages the planning
        # workers map too stay until they exit: the trim after the pool empties takes them).
        memory.page_out_compiler()
        # A thread waiting for the interpreter asks the holder to drop it after this long (5 ms
        # by default): the device loop asks many times a pass while RPC threads build jobs.
        sys.setswitchinterval(SWITCH_INTERVAL_S)
        self._restore_limits()
        self._restore_jobs()
        self._prune()
        loop = asyncio.get_running_loop()

        def prune_when_finished() -> None:  # on the thread that finished the job
            with contextlib.suppress(RuntimeError):  # the event loop has closed: stopping
                loop.call_soon_threadsafe(self.prune_soon)

        self.book.on_finished = prune_when_finished
        self._pruner = asyncio.create_task(self._prune_every(PRUNE_INTERVAL_S))
        for device in self.devices:
            device.runtime.on_serving_change = functools.partial(
                self._serving_changed, loop, device
            )
            device.runtime.start()
        services = {
            "DeviceService": (
                device_pb2,
                DeviceService(
                    self.devices,
                    self.journal,
                    planning_margin_c=self.config.closed_loop.planning_margin_c,
                ),
            ),
            "JobService": (job_pb2, self.jobs),
            "TelemetryService": (telemetry_pb2, TelemetryService(self.devices)),
        }
        for name, (module, servicer) in services.items():
            add_servicer(
                self.server, module.DESCRIPTOR.services_by_name[name], servicer, RAW_METHODS
            )
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        reflection.enable_server_reflection(
            (
                *SERVICE_NAMES,
                health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
                reflection.SERVICE_NAME,
            ),
            self.server,
        )
        for address in self.config.listen:
            self.addresses.append(self._bind(address))
        await self.server.start()
        for splicer in self.splicers:
            splicer.start()
        for name in ("", *SERVICE_NAMES):
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        for device in self.devices:
            await self._sync_device_health(device)
        return self.addresses

    def _serving_changed(
        self, loop: asyncio.AbstractEventLoop, device: ManagedDevice, serving: bool, reason: str
    ) -> None:
        """Called from a device loop thread: hand the health update to the event loop."""
        asyncio.run_coroutine_threadsafe(self._sync_device_health(device), loop)

    async def _sync_device_health(self, device: ManagedDevice) -> None:
        # Read the state now rather than trust the notification: updates may land out of order.
        serving, _ = device.runtime.serving
        status = health_pb2.HealthCheckResponse.NOT_SERVING
        if serving:
            status = health_pb2.HealthCheckResponse.SERVING
        await self.health.set(device_health_name(device.id), status)

    def _bind(self, address: str) -> str:
        if address.startswith("unix:"):
            path = Path(address[len("unix:") :])
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.is_socket():
                if _unix_socket_is_live(path):
                    raise RuntimeError(f"another daemon is serving on unix:{path}")
                # Left by a daemon that died: nobody answers on it.
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
            if self.config.security.unix_peers:
                # Callers get roles by uid/gid: photond accepts on the socket itself, reads
                # their credentials and splices them to gRPC on a socket only it can reach.
                internal = private_socket_path()
                self.server.add_insecure_port(f"unix:{internal}")
                with owner_only_umask():
                    self.splicers.append(Splicer.bind(path, internal, self.access.peers))
            else:
                # Bound owner-only, then opened to the group: never reachable by others
                # meanwhile.
                with owner_only_umask():
                    self.server.add_insecure_port(f"unix:{path}")
            share_socket(path, self.config.security.unix_socket_group)
            return f"unix:{path}"
        if self.access.tls is not None:
            port = self.server.add_secure_port(address, self.access.tls.credentials)
        else:
            port = self.server.add_insecure_port(address)
        host = address.rpartition(":")[0]
        return f"{host}:{port}"

    def reload_security(self, security: SecurityConfig) -> None:
        """Apply a new [security] table (tokens, certificate subjects, roles, limits, TLS files)
        for the calls and connections that come next; raises SecurityConfigError and keeps the
        one in force when the new one cannot apply without a restart."""
        self.access.reload(security)
        log.info(
            "security configuration reloaded",
            extra={"tokens": len(security.tokens), "certificates": len(security.certificates)},
        )

    def _restore_limits(self) -> None:
        """Put the limits UpdateLimits journaled back in force, checked against the profile
        again (a profile changed since may no longer allow them: then its own limits hold)."""
        margin_c = self.config.closed_loop.planning_margin_c
        for device_id, blob in self.journal.load_limits().items():
            try:
                device = self.devices.get(device_id)
                limits = merged_limits(
                    device_pb2.Limits.FromString(blob),
                    device.profile.limits,
                    device.profile,
                    margin_c,
                )
            except RequestError as exc:
                log.warning(
                    "journaled limits not restored; the profile's hold",
                    extra={"device": device_id, "reason": str(exc)},
                )
                continue
            device.runtime.update_limits(limits)
            log.info("limits restored from the journal", extra={"device": device_id})

    def _restore_jobs(self) -> None:
        """Take the journal's jobs back: queued ones are queued again, in submission order.

        A job journaled as running (photond stopped while it ran) is failed with the reason,
        or with `running_jobs_on_restart = "resume"` queued first on its device to resume: the
        tasks whose finish is journaled stay done, and the loop re-plans the rest from the
        device's state when the job starts (`DeviceRuntime`, `ClosedLoop.start_resume`). A job
        whose graph no longer checks against its device's profile is failed, saying why.
        """
        resume = self.config.running_jobs_on_restart == "resume"
        # A job that ran goes on before any queued job starts (stable: otherwise as submitted).
        journaled_jobs = sorted(
            self.journal.load_all(), key=lambda j: j.job.state != job_pb2.JOB_STATE_RUNNING
        )
        for journaled in journaled_jobs:
            job = journaled.job
            record = self.book.restore(journaled)
            if record.terminal:
                continue
            running = job.state == job_pb2.JOB_STATE_RUNNING
            if running and not resume:
                self.book.fail(
                    record,
                    0.0,
                    "photond stopped while the job ran; it was not resumed "
                    '(running_jobs_on_restart = "fail")',
                )
                continue
            try:
                device = self.devices.get(job.device_id)
                record.graph = check_graph(job.graph, device.profile, self.config.max_tasks_per_job)
            except RequestError as exc:
                self.book.fail(record, 0.0, f"cannot resume after restart: {exc}")
                continue
            if running:
                record.resumption = self.book.resumption(record)
                record.plan = record.resumption.plan
            else:
                record.plan = plan_from_proto(job.schedule)
            device.runtime.enqueue(record)
            log.info("job requeued after restart", extra={"job": job.id, "running": running})

    def _prune(self) -> None:
        gone = self.book.prune(
            self.config.retain_finished_jobs, self.config.retain_finished_s, time.time()
        )
        if gone:
            log.info("finished jobs forgotten (retention)", extra={"jobs": len(gone)})

    def prune_soon(self) -> None:
        """Run the retention pass now rather than at its next interval (in the event loop's
        thread): a job has finished, or a reload changed `retain_finished_*`."""
        self._prune_wanted.set()

    async def _prune_every(self, interval_s: float) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._prune_wanted.wait(), interval_s)
            self._prune_wanted.clear()
            try:
                await asyncio.to_thread(self._prune)
            except Exception:  # retention must never take the daemon down
                log.exception("retention pass failed")
            await asyncio.sleep(PRUNE_SPACING_S)

    async def stop(self) -> None:
        # The jobs the stop fails below need no retention pass (and the loop is soon closed).
        self.book.on_finished = None
        if self._pruner is not None:
            self._pruner.cancel()
        self.jobs.accepting = False
        await self.health.enter_graceful_shutdown()
        for device in self.devices:
            await asyncio.to_thread(device.runtime.stop)
        # Streams do not end by themselves: end them (UNAVAILABLE, which clients take as a
        # break to come back from), so that the grace below is for unary calls in flight.
        for device in self.devices:
            device.runtime.hub.close_all(STOPPING)
        self.book.end_follows(STOPPING)
        await self.server.stop(SHUTDOWN_GRACE_S)
        for splicer in self.splicers:
            await asyncio.to_thread(splicer.close)
        if self.metrics is not None:
            self.metrics.close()
        self.planner.close()
        self.journal.close()
        for address in self.addresses:
            if address.startswith("unix:"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(address[len("unix:") :])
        self.lock.release()
