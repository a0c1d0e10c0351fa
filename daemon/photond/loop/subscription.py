"""One telemetry subscriber: which samples it is due, and its bounded, coalescing queue.

gNMI's semantics, per subscription:

- SAMPLE: every `interval_s` of device time (0: every sample the loop takes) a frame of the
  selected sensors; with `suppress_redundant`, only the readings that differ from the one last
  sent (a frame with none is skipped), each sent again at least every `heartbeat_s`.
- ON_CHANGE: checked every `interval_s` (0: every sample), only the sensors whose *filtered*
  reading (`change_filter`: each sensor's average over the hub's `change_filter_s`, 20 ms by
  default, so the sensor's noise is not taken for a change) moved by more than `deadband_c`
  from its filtered value when the sensor was last sent, each sent again at least every
  `heartbeat_s`. What is sent is the raw reading, with its collection time: the number SAMPLE
  and GetHistory give for that instant (a filtered one would trail a ramp by the filter's time
  constant and disagree with them). A frame is also sent when the job's progress or a
  sensor's status changed. `suppress_redundant` compares raw readings: it leaves out repeats.

The queue holds at most `capacity` pending frames. When a slow client lets it fill, the two
oldest are merged (gNMI's coalescing): per sensor the newer reading wins and keeps its own
collection time, a reading only the older carried survives; the older frame's own fields
(power, estimates, health) are gone. `dropped_frames` counts merged-away frames and
`coalesced_samples` the readings a newer one replaced, so the client knows what it missed.

Everything here runs on the RPC side's event loop (`TelemetryHub` fans frames out there), never
on the device loop's thread, so no subscriber can cost the control loop anything.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from photond.loop.frame import Frame

SAMPLE = "sample"
ON_CHANGE = "on_change"


@dataclass(frozen=True)
class SubscriptionSpec:
    """What a client asked for, already checked (rpc.validation)."""

    mode: str = SAMPLE
    interval_s: float = 0.0
    deadband_c: float = 0.0
    heartbeat_s: float = 0.0
    suppress_redundant: bool = False
    # Profile sensor indices in the subscriber's layout order; None means every sensor.
    selection: tuple[int, ...] | None = None


@dataclass(slots=True)
class Pending:
    """A frame waiting to be sent: `positions` are the layout positions it carries (None:
    all); `readings` overrides some of them with (value, collection time) from an older frame
    it was merged with."""

    frame: Frame
    positions: tuple[int, ...] | None = None
    readings: dict[int, tuple[float, float]] | None = None


class Subscription:
    """See the module docstring.

    `offer` and `start_from` take each frame's filtered readings (`judged_c`, profile order)
    when the hub has them; without them ON_CHANGE judges the raw readings.
    """

    def __init__(
        self, spec: SubscriptionSpec, capacity: int, sensors: int, period_s: float = 0.0
    ) -> None:
        """`period_s`: the loop's control period (0: unknown), see `_due`."""
        if capacity < 2:
            raise ValueError(f"a subscriber's queue needs room for 2 frames, got {capacity}")
        self.spec = spec
        # How early a frame may come and still count as a due sample: just under half a
        # control period (a nanosecond without one, for sums of float periods).
        self._early_s = max(1e-9, 0.49 * period_s)
        # Offered every frame for every subscriber: worked out once.
        self._sparse = spec.mode == ON_CHANGE or spec.suppress_redundant
        self._every_sample = spec.interval_s <= 0
        self.capacity = capacity
        self.selection = np.arange(sensors) if spec.selection is None else np.array(spec.selection)
        self._queue: deque[Pending] = deque()
        self._next_due_s: float | None = None
        # Frames up to the snapshot's time are not this subscriber's.
        self._after_s = -float("inf")
        width = len(self.selection)
        self._last_sent_c = np.full(width, np.nan)
        self._last_sent_s = np.full(width, -np.inf)
        self._sent_any = False
        self._last_state: object = None
        self.dropped_frames = 0
        self.coalesced_samples = 0
        # The filtered readings of the snapshot the stream starts from (set by the hub), when
        # `start_from` is not given them.
        self.start_judged_c: NDArray[np.float64] | None = None
        self.event = asyncio.Event()
        # When the sender last took frames (monotonic s): how long a client has taken nothing.
        self.last_take_s = time.monotonic()
        # Why the daemon ended this stream (TelemetryHub.close_all); "" while it is open.
        self.closed = ""

    @property
    def sparse(self) -> bool:
        return self._sparse

    def start_from(
        self, frame: Frame | None, sent: bool, judged_c: NDArray[np.float64] | None = None
    ) -> None:
        """The stream starts after `frame` (its snapshot, `sent` or not under updates_only):
        changes count from its readings, and the first sample is due an interval after it."""
        if frame is None:
            return
        self._after_s = frame.device_time_s
        self._remember(frame, None, sent, self.start_judged_c if judged_c is None else judged_c)
        if self.spec.interval_s > 0:
            self._next_due_s = frame.device_time_s + self.spec.interval_s

    def offer(self, frame: Frame, judged_c: NDArray[np.float64] | None = None) -> None:
        """Queue what `frame` owes this subscriber, if anything; merge when full."""
        if frame.device_time_s <= self._after_s or not (
            self._every_sample or self._due(frame.device_time_s)
        ):
            return
        positions: tuple[int, ...] | None = None
        if self._sparse:
            positions = self._changed(frame, judged_c)
            state = (frame.job, frame.sensor_status)
            if not positions and state == self._last_state:
                return
            self._remember(frame, positions, True, judged_c)
        self._queue.append(Pending(frame, positions))
        if len(self._queue) > self.capacity:
            older = self._queue.popleft()
            self._queue[0] = self._merge(older, self._queue[0])
        self.event.set()

    def take(self) -> list[Pending]:
        """Everything queued, oldest first (the sender's side)."""
        pending = list(self._queue)
        self._queue.clear()
        self.event.clear()
        self.last_take_s = time.monotonic()
        return pending

    def _due(self, t_s: float) -> bool:
        interval_s = self.spec.interval_s
        if interval_s <= 0:
            return True
        due = self._next_due_s
        # A frame stamps the time its pass read the sensors, which varies by a fraction of a
        # period from pass to pass, so the grid of due times takes the one just before it as
        # due: held to the nanosecond, a subscriber at the control period lost a frame each
        # time a pass read a little earlier in its period than the one the grid started
        # from, and saw a gap of two periods the loop never had (benchmarks/loop_stall.py).
        if due is not None and t_s < due - self._early_s:
            return False
        # On the grid of the first due time; after a gap, from this sample on.
        self._next_due_s = (
            t_s + interval_s if due is None or due + interval_s <= t_s else due + interval_s
        )
        return True

    def _compared(self, frame: Frame, judged_c: NDArray[np.float64] | None) -> NDArray[np.float64]:
        """The values a change is judged on: filtered for ON_CHANGE when given, else raw."""
        if judged_c is None or self.spec.mode != ON_CHANGE:
            return np.asarray(frame.temperature_c, dtype=np.float64)[self.selection]
        return judged_c[self.selection]

    def _changed(self, frame: Frame, judged_c: NDArray[np.float64] | None) -> tuple[int, ...]:
        spec = self.spec
        values = self._compared(frame, judged_c)
        last = self._last_sent_c
        with np.errstate(invalid="ignore"):
            if spec.mode == ON_CHANGE:
                moved = np.abs(values - last) > spec.deadband_c
            else:
                moved = values != last
        # A reading that became (or stopped being) a number is a change; NaN to NaN is not.
        moved |= np.isnan(values) != np.isnan(last)
        moved &= ~(np.isnan(values) & np.isnan(last))
        if spec.heartbeat_s > 0:
            moved |= frame.device_time_s - self._last_sent_s >= spec.heartbeat_s - 1e-9
        return tuple(int(i) for i in np.flatnonzero(moved))

    def _remember(
        self,
        frame: Frame,
        positions: tuple[int, ...] | None,
        sent: bool,
        judged_c: NDArray[np.float64] | None = None,
    ) -> None:
        values = self._compared(frame, judged_c)
        index = slice(None) if positions is None else list(positions)
        self._last_sent_c[index] = values[index]
        if sent:
            self._last_sent_s[index] = frame.device_time_s
        self._last_state = (frame.job, frame.sensor_status)

    def _merge(self, older: Pending, newer: Pending) -> Pending:
        """`older` folded into `newer` (see the module docstring), counted."""
        self.dropped_frames += 1
        width = len(self.selection)
        old_pos = range(width) if older.positions is None else older.positions
        new_pos = set(range(width) if newer.positions is None else newer.positions)
        kept = [p for p in old_pos if p not in new_pos]
        self.coalesced_samples += len(old_pos) - len(kept)
        if not kept:
            return newer
        readings = dict(newer.readings or {})
        temps = older.frame.temperature_c
        for p in kept:
            readings[p] = (older.readings or {}).get(p) or (
                temps[int(self.selection[p])],
                older.frame.device_time_s,
            )
        positions = None if len(kept) + len(new_pos) == width else tuple(sorted(new_pos | {*kept}))
        return Pending(newer.frame, positions, readings)
