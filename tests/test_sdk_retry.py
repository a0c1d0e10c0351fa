"""gRPC's retry policy in the SDK's channel, shown on real broken connections to a real photond.

A small Unix-socket proxy stands between the client and the daemon and breaks the first
connection: it closes it at once (a daemon not there yet, or restarting), or it lets the
SubmitJob through, waits until the daemon has journaled the job, and cuts the connection before
the answer gets back (the lost answer that makes a blind retry dangerous). Later connections
pass through untouched. The SDK must ride out both, and the lost answer must not run the graph
twice: gRPC resends the same request, so the daemon sees the same request_id.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest

from daemon_process import RunningDaemon
from photon.v1 import job_pb2, job_pb2_grpc
from photon_sdk import AsyncClient, Client, InvalidArgument, Job, TaskGraph
from photon_sdk._channel import CHANNEL_OPTIONS

pytestmark = pytest.mark.integration

# Bytes from the client past which its SubmitJob request is on its way (the HTTP/2 preface and
# settings are a few hundred bytes; the graph below encodes to several KiB, under the 64 KiB
# flow-control window, so the whole request passes without the daemon's window updates).
REQUEST_UNDER_WAY_BYTES = 2048
WAIT_S = 120.0


class BreakFirstConnection:
    """A Unix-socket proxy to ``upstream`` whose first connection is broken as ``mode`` says.

    ``mode`` "refuse" closes it on accept; "lose_answer" forwards the client's bytes, then once
    the request is under way drops everything the daemon sends and, as soon as ``acted()`` is
    true (the daemon journaled the job), closes the connection.
    """

    def __init__(
        self, upstream: Path, front: Path, mode: str, acted: Callable[[], bool] = lambda: True
    ) -> None:
        self.upstream = upstream
        self.front = front
        self.mode = mode
        self.acted = acted
        self.connections = 0
        self.answer_lost = threading.Event()
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(str(front))
        self._listener.listen()
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        for sock in [self._listener, *self._sockets]:
            with contextlib.suppress(OSError):
                sock.close()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return  # closed
            self.connections += 1
            if self.connections == 1 and self.mode == "refuse":
                conn.close()
                continue
            upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            upstream.connect(str(self.upstream))
            self._sockets += [conn, upstream]
            cut = threading.Event() if self.connections == 1 else None
            threading.Thread(
                target=self._to_daemon, args=(conn, upstream, cut), daemon=True
            ).start()
            threading.Thread(
                target=self._to_client, args=(upstream, conn, cut), daemon=True
            ).start()

    def _to_daemon(
        self, conn: socket.socket, upstream: socket.socket, cut: threading.Event | None
    ) -> None:
        sent = 0
        with contextlib.suppress(OSError):
            while data := conn.recv(65536):
                sent += len(data)
                if cut is not None and sent > REQUEST_UNDER_WAY_BYTES:
                    cut.set()  # before the bytes go on: the daemon cannot answer before this
                upstream.sendall(data)

    def _to_client(
        self, upstream: socket.socket, conn: socket.socket, cut: threading.Event | None
    ) -> None:
        with contextlib.suppress(OSError):
            while data := upstream.recv(65536):
                if cut is None or not cut.is_set():
                    conn.sendall(data)
                    continue
                # The request is in and the daemon is talking back: hold its answer until the
                # job is journaled, then break the connection with the answer undelivered.
                deadline = time.monotonic() + WAIT_S
                while not self.acted() and time.monotonic() < deadline:
                    time.sleep(0.05)
                self.answer_lost.set()
                conn.shutdown(socket.SHUT_RDWR)
                conn.close()
                upstream.close()
                return


@pytest.fixture
def front() -> Iterator[Path]:
    # Under /tmp with a short name: Unix socket paths are limited to ~108 bytes.
    folder = Path(tempfile.mkdtemp(prefix="rp-"))
    yield folder / "front.sock"
    shutil.rmtree(folder, ignore_errors=True)


def daemon_socket(daemon: RunningDaemon) -> Path:
    return Path(daemon.target.removeprefix("unix:"))


def graph(name: str) -> TaskGraph:
    g = TaskGraph(name=name)
    for i in range(60):  # several KiB on the wire (see REQUEST_UNDER_WAY_BYTES)
        g.add_task(f"task-{i:03d}", duration_s=0.01, heater_power_mw={"h00": 1.0})
    return g


def jobs_named(daemon: RunningDaemon, name: str) -> list[Job]:
    with Client(daemon.target) as client:
        return [job for job in client.list_jobs(limit=50) if job.name == name]


def test_a_call_whose_first_connection_is_refused_is_retried(
    daemon: RunningDaemon, front: Path
) -> None:
    proxy = BreakFirstConnection(daemon_socket(daemon), front, "refuse")
    try:
        with Client(f"unix:{front}") as client:
            assert [d.id for d in client.list_devices()] == ["sim0"]
    finally:
        proxy.close()
    assert proxy.connections >= 2


def test_a_large_request_is_retried_too(daemon: RunningDaemon, front: Path) -> None:
    """A submit beyond gRPC's default 256 KiB retry buffer still gets its second attempt."""
    big = TaskGraph(name="big")
    for i in range(20_000):
        big.add_task(f"task-{i:05d}", duration_s=0.01, heater_power_mw={"h00": 1.0})
    # The daemon refuses it cheaply (no heater h99) rather than planning 20,000 tasks: an answer
    # from the daemon, not UNAVAILABLE, shows the second attempt carried the whole request.
    big.add_task("bad", duration_s=0.01, heater_power_mw={"h99": 1.0})
    assert len(big.to_proto().SerializeToString()) > 2 * 256 * 1024
    proxy = BreakFirstConnection(daemon_socket(daemon), front, "refuse")
    try:
        with Client(f"unix:{front}") as client, pytest.raises(InvalidArgument) as refused:
            client.submit_job(big)
    finally:
        proxy.close()
    assert proxy.connections >= 2
    assert any("heater_id" in v.field for v in refused.value.field_violations)


def test_a_lost_submit_answer_is_retried_without_a_second_job(
    daemon: RunningDaemon, front: Path
) -> None:
    name = f"lost answer {uuid.uuid4().hex[:8]}"
    proxy = BreakFirstConnection(
        daemon_socket(daemon), front, "lose_answer", lambda: bool(jobs_named(daemon, name))
    )
    try:
        with Client(f"unix:{front}") as client:
            job = client.submit_job(graph(name))
    finally:
        proxy.close()
    assert proxy.answer_lost.is_set() and proxy.connections >= 2
    [journaled] = jobs_named(daemon, name)
    assert job.id == journaled.id and len(job.request_id) == 32
    assert journaled.request_id == job.request_id


def test_async_a_lost_submit_answer_is_retried_without_a_second_job(
    daemon: RunningDaemon, front: Path
) -> None:
    name = f"lost answer async {uuid.uuid4().hex[:8]}"
    proxy = BreakFirstConnection(
        daemon_socket(daemon), front, "lose_answer", lambda: bool(jobs_named(daemon, name))
    )

    async def submit() -> Job:
        async with AsyncClient(f"unix:{front}") as client:
            return await client.submit_job(graph(name))

    try:
        job = asyncio.run(submit())
    finally:
        proxy.close()
    assert proxy.answer_lost.is_set() and proxy.connections >= 2
    [journaled] = jobs_named(daemon, name)
    assert job.id == journaled.id


def test_without_the_retry_policy_the_answer_is_lost(daemon: RunningDaemon, front: Path) -> None:
    """The control: the same broken connection fails a channel without the SDK's policy."""
    name = f"no retries {uuid.uuid4().hex[:8]}"
    proxy = BreakFirstConnection(
        daemon_socket(daemon), front, "lose_answer", lambda: bool(jobs_named(daemon, name))
    )
    options = [o for o in CHANNEL_OPTIONS if o[0] != "grpc.service_config"]
    request = job_pb2.SubmitJobRequest(
        graph=graph(name).to_proto(), name=name, request_id=uuid.uuid4().hex
    )
    try:
        with (
            grpc.insecure_channel(
                f"unix:{front}", options=[*options, ("grpc.enable_retries", 0)]
            ) as channel,
            pytest.raises(grpc.RpcError) as failed,
        ):
            job_pb2_grpc.JobServiceStub(channel).SubmitJob(request, timeout=WAIT_S)
    finally:
        proxy.close()
    assert failed.value.code() is grpc.StatusCode.UNAVAILABLE
    assert len(jobs_named(daemon, name)) == 1, "the daemon ran it; the client never heard"
