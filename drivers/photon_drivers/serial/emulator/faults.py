"""The emulator's fault knobs, set by flags at start and by control commands while it runs.

One object, shared by the link loop and the control socket under a lock, so a test can turn a
fault on in the middle of a job and see the driver and the daemon react. The random stream is
seeded: a run with the same seed and the same traffic corrupts the same bytes.
"""

from __future__ import annotations

import json
import math
import random
import threading
from dataclasses import dataclass, field

HELP = """\
commands (one per line; each answers one line starting "ok" or "error:"):
  corrupt FRACTION     flip one random bit in this fraction of bytes, both directions
  drop FRACTION        leave this fraction of replies unsent (the command still acts)
  delay SECONDS        wait this long before every reply
  fail-sensor INDEX    report sensor INDEX (0-based, profile order) as failed
  heal-sensor INDEX    report it normally again
  disconnect [SECONDS] drop the port (an unplug: heaters go off); back after SECONDS,
                       or on `reconnect` when no SECONDS are given
  reconnect            bring a dropped port back now
  clear                no faults
  stats                counters, as JSON after "ok "
"""


@dataclass
class FaultStats:
    frames_handled: int = 0
    bad_frames: int = 0
    corrupted_bytes: int = 0
    dropped_replies: int = 0
    disconnects: int = 0
    # Not a fault: what the heaters draw now, so a test can see the device was parked.
    heater_power_mw: float = 0.0


@dataclass
class Faults:
    """What the emulator does wrong; every field may change at any time."""

    corrupt_fraction: float = 0.0
    drop_fraction: float = 0.0
    delay_s: float = 0.0
    failed_sensors: set[int] = field(default_factory=set)
    # Set by `disconnect`: reconnect at this monotonic time (inf: wait for `reconnect`).
    disconnect_until_s: float | None = None
    seed: int = 0
    stats: FaultStats = field(default_factory=FaultStats)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._rng = random.Random(self.seed)

    def corrupt(self, data: bytes) -> bytes:
        """Flip one bit in each byte picked with probability `corrupt_fraction`."""
        with self._lock:
            fraction = self.corrupt_fraction
            if fraction <= 0 or not data:
                return data
            out = bytearray(data)
            for i in range(len(out)):
                if self._rng.random() < fraction:
                    out[i] ^= 1 << self._rng.randrange(8)
                    self.stats.corrupted_bytes += 1
            return bytes(out)

    def drop_reply(self) -> bool:
        with self._lock:
            dropped = self._rng.random() < self.drop_fraction
            self.stats.dropped_replies += dropped
            return dropped

    def apply(self, line: str, now_s: float) -> str:
        """Carry out one control command (see HELP) and return the one-line answer."""
        words = line.split()
        if not words:
            return "error: empty command"
        name, args = words[0], words[1:]
        try:
            with self._lock:
                return self._apply(name, args, now_s)
        except (ValueError, IndexError) as exc:
            return f"error: {name}: {exc}"

    def _apply(self, name: str, args: list[str], now_s: float) -> str:
        if name in ("corrupt", "drop"):
            fraction = float(args[0])
            if not 0.0 <= fraction <= 1.0:
                raise ValueError("FRACTION must be in [0, 1]")
            setattr(self, f"{name}_fraction", fraction)
        elif name == "delay":
            delay_s = float(args[0])
            if not (math.isfinite(delay_s) and delay_s >= 0):
                raise ValueError("SECONDS must be a finite number >= 0")
            self.delay_s = delay_s
        elif name in ("fail-sensor", "heal-sensor"):
            index = int(args[0])
            if name == "fail-sensor":
                self.failed_sensors.add(index)
            else:
                self.failed_sensors.discard(index)
        elif name == "disconnect":
            down_s = float(args[0]) if args else math.inf
            self.disconnect_until_s = now_s + down_s
        elif name == "reconnect":
            if self.disconnect_until_s is not None:
                self.disconnect_until_s = now_s
        elif name == "clear":
            self.corrupt_fraction = self.drop_fraction = self.delay_s = 0.0
            self.failed_sensors.clear()
        elif name == "stats":
            return "ok " + json.dumps(vars(self.stats))
        else:
            raise ValueError("unknown command; commands: " + " ".join(_NAMES))
        return "ok"


_NAMES = (
    "corrupt",
    "drop",
    "delay",
    "fail-sensor",
    "heal-sensor",
    "disconnect",
    "reconnect",
    "clear",
    "stats",
)
