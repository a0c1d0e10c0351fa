"""``photonctl watch``: a device's live thermal state, redrawn in place on a terminal.

On a terminal the view is a ``rich`` Live display (ANSI cursor moves only, so it works over
SSH): the die as a heat map at the sensors' positions, the observer's heater estimates when
the stream carries them, the hottest point with its trend, the limits and the headroom left
to each, the running job's progress, and the stream's dropped/coalesced counts. Anywhere else
(a pipe, a file) it prints one plain line per frame, or one JSON object per line.

:class:`WatchModel` holds what the view shows and does no I/O; :func:`render` turns it into
rich renderables, so the tests can check both without a terminal.
"""

from __future__ import annotations

import itertools
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, TextIO

from ._errors import PhotonError
from ._progress import JobProgress
from ._resubscribe import ResilientTelemetry, TelemetryGap
from ._table import num
from .types import Device, DeviceState, TelemetryFrame

if TYPE_CHECKING:
    from rich.console import RenderableType

    from ._client import Client

__all__ = ["WatchModel", "gap_line", "render", "watch"]

#: Device seconds of the hottest reading's history the trend is fitted over.
TREND_WINDOW_S = 2.0
#: How often the live view polls the device state (active job, queue, stops), wall seconds.
STATE_POLL_S = 1.0
#: Most redraws per wall second; frames arriving faster update the model only.
REDRAWS_PER_S = 8.0


class WatchModel:
    """Everything the live view shows, fed by frames, device states and job events."""

    def __init__(self, device: Device) -> None:
        self.device = device
        self.frame: TelemetryFrame | None = None
        self.state: DeviceState | None = None
        self.heater_estimates_c: Mapping[str, float] | None = None
        self.readings_c: dict[str, float] = {}  # the latest reading of every sensor
        self.frames_seen = 0
        self.dropped_frames = 0
        self.coalesced_samples = 0
        self.gaps: list[TelemetryGap] = []
        self.job: JobProgress | None = None
        self._hottest: deque[tuple[float, float]] = deque()
        self._lock = threading.Lock()

    def feed_frame(self, frame: TelemetryFrame, dropped_frames: int, coalesced: int) -> None:
        """Account for one telemetry frame and the stream's dropped/coalesced counts so far.

        A partial frame (only some sensors) updates those sensors' readings; the heat map
        shows every sensor's latest one.
        """
        with self._lock:
            if self._hottest and frame.device_time_s < self._hottest[-1][0]:
                self._hottest.clear()  # the device clock restarted (a daemon restart)
            self.frame = frame
            self.readings_c.update(frame.temperature_c)
            if frame.estimated_heater_temperature_c:
                self.heater_estimates_c = frame.estimated_heater_temperature_c
            self.frames_seen += 1
            self.dropped_frames = dropped_frames
            self.coalesced_samples = coalesced
            self._hottest.append((frame.device_time_s, self.hottest_c))
            while self._hottest[0][0] < frame.device_time_s - TREND_WINDOW_S:
                self._hottest.popleft()

    @property
    def hottest_sensor_id(self) -> str:
        return max(self.readings_c, key=self.readings_c.__getitem__, default="")

    @property
    def hottest_c(self) -> float:
        return max(self.readings_c.values(), default=float("nan"))

    @property
    def trend_c_per_s(self) -> float | None:
        """Least-squares slope of the hottest reading over the last TREND_WINDOW_S (°C per
        device second); None until two frames span some time."""
        points = list(self._hottest)
        if len(points) < 2 or points[-1][0] - points[0][0] <= 0:
            return None
        mean_t = sum(t for t, _ in points) / len(points)
        mean_c = sum(c for _, c in points) / len(points)
        var = sum((t - mean_t) ** 2 for t, _ in points)
        cov = sum((t - mean_t) * (c - mean_c) for t, c in points)
        return cov / var

    def sensor_gradient_c_per_mm(self) -> float:
        """Largest temperature difference per mm between neighbouring sensors (°C/mm).

        Coarser than the planner's gradient (sensors are further apart than heaters), so it
        reads low; still the number the sensors can vouch for.
        """
        readings = self.readings_c
        sensors = [s for s in self.device.sensors if s.id in readings]
        if len(sensors) < 2:
            return 0.0
        spacing = min(
            math.dist((a.x_mm, a.y_mm), (b.x_mm, b.y_mm))
            for i, a in enumerate(sensors)
            for b in sensors[i + 1 :]
        )
        worst = 0.0
        for i, a in enumerate(sensors):
            for b in sensors[i + 1 :]:
                distance_mm = math.dist((a.x_mm, a.y_mm), (b.x_mm, b.y_mm))
                if 0 < distance_mm <= 1.5 * spacing:
                    delta = abs(readings[a.id] - readings[b.id])
                    worst = max(worst, delta / distance_mm)
        return worst


def _grid(positions: Sequence[tuple[str, float, float]]) -> list[list[str | None]]:
    """Place ids on rows (top = largest y, as the die is drawn) and columns by position."""
    xs = sorted({round(x, 3) for _, x, _ in positions})
    ys = sorted({round(y, 3) for _, _, y in positions}, reverse=True)
    cells: list[list[str | None]] = [[None] * len(xs) for _ in ys]
    for item_id, x, y in positions:
        cells[ys.index(round(y, 3))][xs.index(round(x, 3))] = item_id
    return cells


def colour_for(temperature_c: float, ambient_c: float, limit_c: float) -> tuple[int, int, int]:
    """Heat-map colour: blue at ambient, through yellow, red at the limit, magenta above."""
    if temperature_c > limit_c:
        return (200, 0, 200)
    span = max(limit_c - ambient_c, 1e-9)
    f = min(max((temperature_c - ambient_c) / span, 0.0), 1.0)
    stops = ((0.0, (40, 70, 200)), (0.5, (230, 210, 40)), (1.0, (220, 30, 30)))
    for (f0, c0), (f1, c1) in itertools.pairwise(stops):
        if f <= f1:
            w = (f - f0) / (f1 - f0)
            r, g, b = (round(a + w * (z - a)) for a, z in zip(c0, c1, strict=True))
            return (r, g, b)
    return stops[-1][1]


def render(model: WatchModel) -> RenderableType:
    """The live view of ``model`` as one rich renderable."""
    from rich.columns import Columns
    from rich.console import Group
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

    device, frame = model.device, model.frame
    limits = device.limits
    header = Text(f"photond {device.id} ({device.model})", style="bold")
    if frame is None:
        return Group(header, Text("waiting for the first frame ..."))
    header.append(f"  device time {num(frame.device_time_s, 1)} s")
    header.append(f"  power {num(frame.total_heater_power_mw, 1)} mW")
    stream = f"frames {model.frames_seen}, dropped {model.dropped_frames}"
    stream += f", coalesced {model.coalesced_samples}"
    header.append(f"  stream: {stream}", style="dim")
    if model.gaps:
        gap = model.gaps[-1]
        restarted = ", daemon restarted" if gap.device_clock_restarted else ""
        header.append(
            f"\n{len(model.gaps)} gap(s); last: {num(gap.duration_s, 1)} s without frames "
            f"({gap.reason}{restarted})",
            style="yellow",
        )

    def heat_map(
        values: Mapping[str, float],
        places: Sequence[tuple[str, float, float]],
        width: int,
        digits: int,
    ) -> Table:
        table = Table.grid(padding=(0, 0))
        hottest = max(values, key=values.__getitem__, default="")
        for row in _grid(places):
            cells = []
            for item_id in row:
                if item_id is None or item_id not in values:
                    cells.append(Text(" " * width))
                    continue
                value = values[item_id]
                r, g, b = colour_for(value, device.ambient_c, limits.max_device_temperature_c)
                ink = "black" if g > 150 else "white"
                style = f"{ink} on rgb({r},{g},{b})" + (
                    " bold underline" if item_id == hottest else ""
                )
                cells.append(Text(f"{value:{width}.{digits}f}", style=style))
            table.add_row(*cells)
        return table

    sensors = [(s.id, s.x_mm, s.y_mm) for s in device.sensors]
    panels = [
        Panel(heat_map(frame.temperature_c, sensors, 7, 1), title="die, sensors (°C)", expand=False)
    ]
    if model.heater_estimates_c:
        heaters = [(h.id, h.x_mm, h.y_mm) for h in device.heaters]
        estimates = heat_map(model.heater_estimates_c, heaters, 3, 0)
        title = "heaters, ESTIMATED (°C)"
        panels.append(Panel(estimates, title=title, expand=False))

    hottest_c = model.hottest_c
    trend = model.trend_c_per_s
    facts = Table.grid(padding=(0, 1))
    facts.add_column(style="bold")
    facts.add_column(justify="right")
    facts.add_column()
    arrow = "" if trend is None else ("↑" if trend > 0.05 else "↓" if trend < -0.05 else "→")
    trend_text = "" if trend is None else f"{arrow} {trend + 0.0:+.2f} °C/s"
    facts.add_row("hottest", f"{num(hottest_c)} °C", f"{model.hottest_sensor_id} {trend_text}")
    mean_c = sum(model.readings_c.values()) / max(len(model.readings_c), 1)
    facts.add_row("mean", f"{num(mean_c)} °C", "")
    if model.heater_estimates_c:
        heater_id = max(model.heater_estimates_c, key=model.heater_estimates_c.__getitem__)
        heater_c = model.heater_estimates_c[heater_id]
        facts.add_row("hottest heater", f"{num(heater_c)} °C", f"{heater_id} (estimated)")
    for name, limit_c in (
        ("limit", limits.max_device_temperature_c),
        ("interlock", limits.interlock_temperature_c),
    ):
        headroom_c = limit_c - hottest_c
        style = "red" if headroom_c < 5 else "yellow" if headroom_c < 15 else "green"
        facts.add_row(
            name, f"{num(limit_c, 1)} °C", Text(f"headroom {num(headroom_c, 1)} °C", style=style)
        )
    gradient = model.sensor_gradient_c_per_mm()
    facts.add_row(
        "gradient",
        f"{num(gradient)} °C/mm",
        f"limit {num(limits.max_thermal_gradient_c_per_mm, 1)} (sensors)",
    )
    for sensor_id, status in sorted(frame.sensor_status.items()):
        facts.add_row("sensor", sensor_id, Text(f"{status.state}: {status.reason}", style="red"))
    panels.append(Panel(facts, title="limits and headroom", expand=False))
    # Columns flows the panels into as many rows as the terminal's width needs (an 80-column
    # SSH session gets two rows) instead of squeezing them until the numbers are cut.
    return Group(header, Columns(panels, padding=(0, 1)), _job_line(model))


def _job_line(model: WatchModel) -> RenderableType:
    from rich.text import Text

    state = model.state
    if state is None:
        return Text("")
    if not state.serving:
        return Text(f"NOT SERVING: {state.not_serving_reason}", style="bold red")
    queued = f", {state.queued_jobs} queued" if state.queued_jobs else ""
    job = model.job
    if not state.active_job_id:
        return Text(f"idle{queued}", style="dim")
    if job is None or job.job_id != state.active_job_id:
        return Text(f"job {state.active_job_id} running{queued}")
    total = max(job.total_tasks, 1)
    filled = round(30 * job.done_tasks / total)
    bar = "█" * filled + "░" * (30 - filled)
    return Text(f"job {job.job_id} {bar} {job.summary()}{queued}")


def watch(
    client: Client,
    device_id: str,
    sample_interval_s: float,
    count: int,
    out: TextIO,
    *,
    as_json: bool = False,
    live: bool | None = None,
) -> None:
    """Stream ``device_id``'s frames to ``out`` until ``count`` frames (0: forever).

    The subscription survives daemon restarts; each break shows as a gap (a line, a JSON
    object ``{"gap": {...}}``, or a yellow line in the live view). ``live`` None decides by
    ``out.isatty()`` (and never with ``as_json``).
    """
    if live is None:
        live = out.isatty() and not as_json
    with client.follow_telemetry(device_id, sample_interval_s) as items:
        if live:
            _watch_live(client, items, count, out)
        else:
            _watch_plain(items, count, out, as_json)


def gap_line(gap: TelemetryGap) -> str:
    """A gap in a plain listing: how long, the device times either side, why."""
    restarted = "; the daemon restarted (device clock reset)" if gap.device_clock_restarted else ""
    return (
        f"# gap: {num(gap.duration_s, 2)} s without frames, device time "
        f"{num(gap.last_device_time_s, 3)} -> {num(gap.next_device_time_s, 3)} s "
        f"({gap.reason}){restarted}"
    )


def _watch_plain(items: ResilientTelemetry, count: int, out: TextIO, as_json: bool) -> None:
    import json

    if not as_json:
        header = f"{'DEVICE_TIME_S':>13}  {'MAX_C':>7}  {'MEAN_C':>7}  {'HOTTEST':<8}"
        print(f"{header}  {'POWER_MW':>9}  {'DROPPED':>7}", file=out)
    shown = 0
    for item in items:
        if isinstance(item, TelemetryGap):
            text = json.dumps({"gap": item.to_dict()}) if as_json else gap_line(item)
            print(text, file=out, flush=True)
            continue
        shown += 1
        frame = item
        if as_json:
            document = {**frame.to_dict(), "dropped_frames": items.dropped_frames}
            print(json.dumps(document, allow_nan=False), file=out, flush=True)
        else:
            print(
                f"{num(frame.device_time_s, 3):>13}  {num(frame.max_temperature_c):>7}  "
                f"{num(frame.mean_temperature_c):>7}  {frame.hottest_sensor_id:<8}  "
                f"{num(frame.total_heater_power_mw, 1):>9}  {items.dropped_frames:>7}",
                file=out,
                flush=True,
            )
        if shown == count:
            return


def _watch_live(client: Client, items: ResilientTelemetry, count: int, out: TextIO) -> None:
    from rich.console import Console
    from rich.live import Live

    first = next(items)  # a new subscription's first item is a frame, never a gap
    assert isinstance(first, TelemetryFrame)
    model = WatchModel(client.get_device(items.device_id))
    model.feed_frame(first, items.dropped_frames, items.coalesced_samples)
    jobs = _JobFollower(client, model)
    next_poll = 0.0
    next_draw = 0.0
    console = Console(file=out)
    with Live(render(model), console=console, auto_refresh=False) as view:
        shown = 1
        while True:
            now = time.monotonic()
            if now >= next_poll:
                model.state = client.get_device_state(model.device.id)
                jobs.follow(model.state.active_job_id)
                next_poll = now + STATE_POLL_S
            if now >= next_draw or shown == count:
                view.update(render(model), refresh=True)
                next_draw = now + 1 / REDRAWS_PER_S
            if shown == count:
                return
            item = next(items)
            if isinstance(item, TelemetryGap):
                model.gaps.append(item)
                next_poll = 0.0  # the daemon restarted: its state and jobs are new
                continue
            model.feed_frame(item, items.dropped_frames, items.coalesced_samples)
            shown += 1


class _JobFollower:
    """Follows the device's active job in a thread, feeding its events to the model."""

    def __init__(self, client: Client, model: WatchModel) -> None:
        self._client = client
        self._model = model
        self._job_id = ""

    def follow(self, job_id: str) -> None:
        if not job_id or job_id == self._job_id:
            return
        self._job_id = job_id
        progress = JobProgress(job_id)
        self._model.job = progress
        thread = threading.Thread(target=self._run, args=(job_id, progress.feed), daemon=True)
        thread.start()

    def _run(self, job_id: str, feed: Callable[..., None]) -> None:
        try:
            for event in self._client.watch_job(job_id):
                feed(event)
                if event.is_terminal:
                    return
        except PhotonError:
            return  # the view shows the device state; a lost job stream only stops the bar
