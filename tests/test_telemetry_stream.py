"""How a telemetry stream's write ends when the client is gone, stalls, or the write fails."""

from __future__ import annotations

import asyncio
import itertools
import statistics

import grpc
import pytest

from photon.v1 import telemetry_pb2
from photond.loop.frame import Frame
from photond.loop.subscription import Subscription, SubscriptionSpec
from photond.rpc.status import RequestError
from photond.rpc.telemetry_stream import stream_updates, write


class _Call:
    """The two things `write` asks of grpc's servicer context: write, and whether it is done."""

    def __init__(self, error: Exception | None, done: bool, hang: bool = False) -> None:
        self.error, self._done, self.hang = error, done, hang

    async def write(self, data: bytes) -> None:
        if self.hang:
            await asyncio.sleep(3600)
        if self.error is not None:
            raise self.error

    def done(self) -> bool:
        return self._done


class ExecuteBatchError(Exception):
    """Named as grpc's internal error for a write on a call the peer has left."""


@pytest.mark.parametrize(
    "call",
    [_Call(RuntimeError("gone"), done=True), _Call(ExecuteBatchError("execute_batch"), False)],
    ids=["call done", "grpc's write error before the call shows done"],
)
def test_a_write_to_a_client_that_went_away_ends_as_a_cancellation(call: _Call) -> None:
    # The stream must end quietly, not be logged and answered as the daemon's INTERNAL error.
    with pytest.raises(asyncio.CancelledError):
        asyncio.run(write(call, b"frame", 1.0))


def test_a_write_that_fails_on_a_live_call_is_an_error() -> None:
    call = _Call(RuntimeError("broken"), done=False)
    with pytest.raises(RuntimeError, match="broken"):
        asyncio.run(write(call, b"frame", 1.0))


def test_a_client_that_takes_nothing_is_closed_with_resource_exhausted() -> None:
    with pytest.raises(RequestError) as closed:
        asyncio.run(write(_Call(None, done=False, hang=True), b"frame", 0.05, "; 3 dropped"))
    assert closed.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "telemetry_stall_timeout_s" in str(closed.value) and "3 dropped" in str(closed.value)


class _Recorder:
    """A call that takes every write at once, noting when (loop time) and how many frames."""

    def __init__(self) -> None:
        self.writes: list[tuple[float, int]] = []

    async def write(self, data: bytes) -> None:
        update = telemetry_pb2.TelemetryUpdate.FromString(data)
        self.writes.append((asyncio.get_running_loop().time(), len(update.batch.frames)))

    def done(self) -> bool:
        return False


def test_writes_are_write_interval_apart_and_carry_every_frame() -> None:
    interval_s = 0.02

    async def run() -> list[tuple[float, int]]:
        subscription = Subscription(SubscriptionSpec(), 4096, 1)
        call = _Recorder()
        sender = asyncio.create_task(stream_updates(subscription, call, 10.0, interval_s))
        for step in range(200):  # a 1 kHz loop for 0.2 s
            subscription.offer(Frame(step * 0.001, 0.0, (25.0,), 0.0))
            await asyncio.sleep(0.001)
        await asyncio.sleep(2 * interval_s)
        sender.cancel()
        return call.writes

    writes = asyncio.run(run())
    assert sum(n for _, n in writes) == 200
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(writes)]
    # The median, not the minimum: the test stamps each write when its task runs, which a
    # loaded machine delays (one gap of 13 ms against 20 ms in a fresh-clone run).
    assert statistics.median(gaps) >= interval_s - 1e-3, gaps
