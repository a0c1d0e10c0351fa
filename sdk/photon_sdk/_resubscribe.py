"""A telemetry subscription that outlives daemon restarts and says what it missed.

gRPC's retry policy re-sends a call only until its first answer has arrived, so it cannot
carry a Subscribe stream across a daemon restart: the stream ends (UNAVAILABLE, or the
daemon's clean end of stream at shutdown). :class:`ResilientTelemetry` then opens a new
subscription, waiting between attempts with the channel's own reconnect backoff doing the
connecting, and, once frames flow again, yields a :class:`TelemetryGap` before the first new
frame: when the stream broke, for how long no frame came, the device-clock times on either
side (the clock restarts with the daemon, which ``device_clock_restarted`` says) and why. The
gap is an item of the iteration on purpose, so a consumer that plots or averages the frames
cannot miss it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Protocol, Self

import grpc

from ._errors import Cancelled, ResourceExhausted, RpcError, Unavailable
from .types import TelemetryFrame, _Record


class TelemetryStream(Protocol):
    """What re-subscribing needs of a subscription (``Client.subscribe`` returns one)."""

    @property
    def device_id(self) -> str: ...
    @property
    def dropped_frames(self) -> int: ...
    @property
    def coalesced_samples(self) -> int: ...
    def __next__(self) -> TelemetryFrame: ...
    def close(self) -> None: ...


class AsyncTelemetryStream(Protocol):
    """The asyncio twin (``AsyncClient.subscribe`` returns one)."""

    @property
    def device_id(self) -> str: ...
    @property
    def dropped_frames(self) -> int: ...
    @property
    def coalesced_samples(self) -> int: ...
    async def __anext__(self) -> TelemetryFrame: ...
    async def aclose(self) -> None: ...


__all__ = ["AsyncResilientTelemetry", "ResilientTelemetry", "TelemetryGap"]

#: Errors that end a stream but not the subscription: the daemon went away or restarted
#: (UNAVAILABLE, or CANCELLED as it shut down), or it closed this reader as stalled
#: (RESOURCE_EXHAUSTED). Anything else (a bad device id, ...) is raised to the caller.
_BREAKS = (Unavailable, Cancelled, ResourceExhausted)

#: Wall seconds between attempts to subscribe again (each attempt itself retries UNAVAILABLE
#: with gRPC's backoff before it fails).
RETRY_INTERVAL_S = 0.5


#: What a stream that ended without an error (the daemon's clean shutdown) counts as.
_ENDED = Unavailable(grpc.StatusCode.UNAVAILABLE, "the daemon ended the stream")


@dataclass(frozen=True)
class TelemetryGap(_Record):
    """Frames that never arrived: the subscription broke and was opened again.

    ``duration_s`` is the host time from the last frame before the break to the first one
    after it (``started_at`` and ``ended_at``, the two frames' ``read_at``);
    ``last_device_time_s`` and ``next_device_time_s`` are those frames' device-clock times
    (``next`` is smaller when the device clock restarted: ``device_clock_restarted``).
    ``reason`` is the error that ended the stream, e.g. ``"UNAVAILABLE: Socket closed"``.
    """

    device_id: str
    started_at: datetime
    ended_at: datetime
    duration_s: float
    last_device_time_s: float
    next_device_time_s: float
    device_clock_restarted: bool
    reason: str
    attempts: int


class _GapTracker:
    """The bookkeeping both variants share: the last frame, the open gap, the totals."""

    def __init__(self, max_gap_s: float | None) -> None:
        self.max_gap_s = max_gap_s
        self.last_frame: TelemetryFrame | None = None
        self.broken_since: float | None = None  # monotonic time the break was noticed
        self.broken_wall: datetime | None = None
        self.reason = ""
        self.attempts = 0
        self.gaps = 0
        self.dropped_before = 0
        self.coalesced_before = 0

    def broke(self, error: BaseException) -> None:
        if self.broken_since is None:
            self.broken_since = time.monotonic()
            self.broken_wall = datetime.now(UTC)
            self.reason = (
                f"{error.code_name}: {error.message}" if isinstance(error, RpcError) else str(error)
            )
        self.attempts += 1
        if self.max_gap_s is not None and time.monotonic() - self.broken_since > self.max_gap_s:
            raise error

    def frame(self, frame: TelemetryFrame, device_id: str) -> TelemetryGap | None:
        gap = None
        if self.broken_since is not None and self.broken_wall is not None:
            # Measured between the readings on either side (their read_at), not when this
            # reader took them: frames buffered before the break are not part of the gap.
            last = self.last_frame
            started_at = last.read_at if last is not None else self.broken_wall
            last_s = last.device_time_s if last is not None else float("nan")
            gap = TelemetryGap(
                device_id=device_id,
                started_at=started_at,
                ended_at=frame.read_at,
                duration_s=(frame.read_at - started_at).total_seconds(),
                last_device_time_s=last_s,
                next_device_time_s=frame.device_time_s,
                device_clock_restarted=frame.device_time_s < last_s,
                reason=self.reason,
                attempts=self.attempts,
            )
            self.gaps += 1
            self.broken_since = self.broken_wall = None
            self.attempts = 0
        self.last_frame = frame
        return gap


class ResilientTelemetry(Iterator[TelemetryFrame | TelemetryGap]):
    """Frames of a subscription that re-subscribes when the stream breaks, with a
    :class:`TelemetryGap` item for each break (see the module docstring).

    ``max_gap_s`` None waits for the daemon forever; else a break longer than that raises
    the error that caused it. ``gaps`` counts the breaks so far; ``dropped_frames`` sums the
    frames the daemon dropped for this reader over all its streams.
    """

    def __init__(
        self, open_stream: Callable[[], TelemetryStream], *, max_gap_s: float | None
    ) -> None:
        self._open = open_stream
        self._track = _GapTracker(max_gap_s)
        self._stream: TelemetryStream | None = open_stream()
        self._pending: TelemetryFrame | None = None
        self._closed = False

    @property
    def device_id(self) -> str:
        return self._stream.device_id if self._stream is not None else ""

    @property
    def gaps(self) -> int:
        """Breaks the subscription has come back from."""
        return self._track.gaps

    @property
    def dropped_frames(self) -> int:
        """Frames the daemon dropped because this reader was slow, over every stream."""
        current = self._stream.dropped_frames if self._stream is not None else 0
        return self._track.dropped_before + current

    @property
    def coalesced_samples(self) -> int:
        """Readings the daemon replaced by newer ones before this reader took them, over
        every stream."""
        current = self._stream.coalesced_samples if self._stream is not None else 0
        return self._track.coalesced_before + current

    def __iter__(self) -> Self:
        return self

    def __next__(self) -> TelemetryFrame | TelemetryGap:
        if self._pending is not None:
            frame, self._pending = self._pending, None
            return frame
        while not self._closed:
            if self._stream is None:
                time.sleep(RETRY_INTERVAL_S)
                self._stream = self._open()
            try:
                frame = next(self._stream)
            except StopIteration as end:
                if self._was_closed():  # the break was our own close()
                    break
                self._lose_stream(_ENDED)
                del end
                continue
            except _BREAKS as exc:
                if self._was_closed():  # the break was our own close()
                    break
                self._lose_stream(exc)
                continue
            gap = self._track.frame(frame, self._stream.device_id)
            if gap is not None:
                self._pending = frame
                return gap
            return frame
        raise StopIteration

    def _lose_stream(self, error: RpcError) -> None:
        assert self._stream is not None
        self._track.dropped_before += self._stream.dropped_frames
        self._track.coalesced_before += self._stream.coalesced_samples
        self._stream.close()
        self._stream = None
        self._track.broke(error)

    def _was_closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Cancel the subscription for good."""
        self._closed = True
        if self._stream is not None:
            self._stream.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class AsyncResilientTelemetry:
    """The asyncio twin of :class:`ResilientTelemetry`: ``async for`` it; ``aclose()``."""

    def __init__(
        self, open_stream: Callable[[], AsyncTelemetryStream], *, max_gap_s: float | None
    ) -> None:
        self._open = open_stream
        self._track = _GapTracker(max_gap_s)
        self._stream: AsyncTelemetryStream | None = open_stream()
        self._pending: TelemetryFrame | None = None
        self._closed = False

    @property
    def gaps(self) -> int:
        """Breaks the subscription has come back from."""
        return self._track.gaps

    @property
    def dropped_frames(self) -> int:
        """Frames the daemon dropped because this reader was slow, over every stream."""
        current = self._stream.dropped_frames if self._stream is not None else 0
        return self._track.dropped_before + current

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> TelemetryFrame | TelemetryGap:
        if self._pending is not None:
            frame, self._pending = self._pending, None
            return frame
        while not self._closed:
            if self._stream is None:
                await asyncio.sleep(RETRY_INTERVAL_S)
                self._stream = self._open()
            stream = self._stream
            try:
                frame = await stream.__anext__()
            except StopAsyncIteration:
                if self._was_closed():  # the break was our own close()
                    break
                await self._lose_stream(_ENDED)
                continue
            except _BREAKS as exc:
                if self._was_closed():  # the break was our own close()
                    break
                await self._lose_stream(exc)
                continue
            gap = self._track.frame(frame, stream.device_id)
            if gap is not None:
                self._pending = frame
                return gap
            return frame
        raise StopAsyncIteration

    async def _lose_stream(self, error: RpcError) -> None:
        stream, self._stream = self._stream, None
        assert stream is not None
        self._track.dropped_before += stream.dropped_frames
        self._track.coalesced_before += stream.coalesced_samples
        await stream.aclose()
        self._track.broke(error)

    def _was_closed(self) -> bool:
        return self._closed

    async def aclose(self) -> None:
        """Cancel the subscription for good."""
        self._closed = True
        if self._stream is not None:
            await self._stream.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()
