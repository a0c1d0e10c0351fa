"""Serial link speed: sensor-read round trips per second and latency over a pty and socket://.

The emulator runs as its own process (as firmware runs on its own chip), serving the default
64-heater, 16-sensor profile; this script drives it with the real SerialDriver through
pyserial. A pty moves bytes as fast as the kernel copies them whatever baud rate the driver
sets on it, so the "unpaced" pty rows at 115200 and 1,000,000 baud measure the same thing, and
say so. The "paced" rows make the emulator hold each exchange for the time its bytes need on a
real 8N1 UART at that rate (`--pace-baud`), which is what a USB-serial adapter would impose;
they are the honest estimate for real hardware, minus the adapter's own USB latency (often
1-16 ms per direction on FTDI parts unless their latency timer is lowered).

Each row runs two loops: sensor reads alone (the telemetry a control loop sustains), and a
read plus an 8-heater SET_POWERS per pass (a pass in which a task starts or ends).

    .venv/bin/python benchmarks/serial_link.py [--seconds 3] [--json OUT.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from photon_drivers import ScaledClock
from photon_drivers.serial.driver import SerialDriver
from photon_drivers.serial.protocol import Command, encode_frame, encode_powers

DEFAULT_JSON = Path(__file__).parent / "results" / "serial_link.json"
BITS_PER_BYTE = 10  # 8N1: start bit, 8 data bits, stop bit


@dataclass(frozen=True)
class Case:
    name: str
    transport: str  # "pty" or "socket"
    driver_baud: int
    pace_baud: int  # 0: the emulator adds no line time


CASES = (
    Case("pty, unpaced, driver set to 115200", "pty", 115_200, 0),
    Case("pty, unpaced, driver set to 1000000", "pty", 1_000_000, 0),
    Case("pty, paced as a 115200 baud UART", "pty", 115_200, 115_200),
    Case("pty, paced as a 1000000 baud UART", "pty", 1_000_000, 1_000_000),
    Case("socket:// (TCP loopback), unpaced", "socket", 115_200, 0),
)


@dataclass(frozen=True)
class Row:
    case: str
    loop: str
    round_trips: int
    per_second: float
    p50_ms: float
    p99_ms: float
    wire_limit_per_second: float | None


def exchange_bytes(loop: str) -> int:
    """Bytes one pass puts on the wire, both directions, with framing."""
    read = len(encode_frame(0, Command.READ_SENSORS)) + len(
        encode_frame(0, Command.READ_SENSORS, bytes(32))
    )
    if loop == "read":
        return read
    powers = encode_powers({i: 20.0 for i in range(8)})
    return (
        read
        + len(encode_frame(0, Command.SET_POWERS, powers))
        + len(encode_frame(0, Command.SET_POWERS))
    )


def start_emulator(case: Case, directory: Path) -> tuple[subprocess.Popen[str], str]:
    where = ["--tcp", "127.0.0.1:0"] if case.transport == "socket" else ["--pty"]
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "photon_drivers.serial.emulator",
            *where,
            "--pace-baud",
            str(case.pace_baud),
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=directory,
    )
    assert process.stdout is not None
    return process, process.stdout.readline().strip()


def measure(step: Callable[[], object], seconds: float) -> list[float]:
    for _ in range(20):
        step()  # warm up
    latencies_s: list[float] = []
    end_s = time.perf_counter() + seconds
    while (now_s := time.perf_counter()) < end_s:
        step()
        latencies_s.append(time.perf_counter() - now_s)
    return latencies_s


def run_case(case: Case, seconds: float, directory: Path) -> list[Row]:
    process, address = start_emulator(case, directory)
    options = {"port": address, "baud": str(case.driver_baud), "timeout_s": "0.5"}
    driver = SerialDriver.open(options, ScaledClock())
    heaters = {h.id: 20.0 for h in driver.profile.heaters[:8]}

    def read_and_set() -> None:
        driver.read_sensors()
        driver.set_heater_powers(heaters)

    rows = []
    try:
        for loop, step in (("read", driver.read_sensors), ("read+set", read_and_set)):
            latencies_s = measure(step, seconds)
            cuts = statistics.quantiles(latencies_s, n=100)
            limit = None
            if case.pace_baud:
                limit = case.pace_baud / (BITS_PER_BYTE * exchange_bytes(loop))
            rows.append(
                Row(
                    case=case.name,
                    loop=loop,
                    round_trips=len(latencies_s),
                    per_second=len(latencies_s) / sum(latencies_s),
                    p50_ms=cuts[49] * 1e3,
                    p99_ms=cuts[98] * 1e3,
                    wire_limit_per_second=limit,
                )
            )
        counters = driver.counters()
        assert counters["retries"] == 0, f"a clean link needed retries: {counters}"
    finally:
        driver.close()
        process.send_signal(signal.SIGTERM)
        process.wait(30)
        if process.stdout is not None:
            process.stdout.close()
    return rows


def print_table(rows: list[Row]) -> None:
    header = (
        f"{'link':<38} {'loop':<9} {'passes/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'wire max/s':>10}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        limit = f"{r.wire_limit_per_second:10.0f}" if r.wire_limit_per_second else f"{'-':>10}"
        print(
            f"{r.case:<38} {r.loop:<9} {r.per_second:9.0f} {r.p50_ms:8.3f} {r.p99_ms:8.3f} {limit}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="per loop and link")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help="where to write results")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as directory:
        rows = [row for case in CASES for row in run_case(case, args.seconds, Path(directory))]
    print_table(rows)
    reads = [r for r in rows if r.loop == "read"]
    best = max(reads, key=lambda r: r.per_second)
    print(
        f"\nhighest sustained telemetry rate, 16 sensors per frame: {best.per_second:.0f} "
        f"frames/s ({best.case}); on a real 115200 baud line: "
        f"{next(r for r in reads if r.case == CASES[2].name).per_second:.0f} frames/s"
    )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps(
            {
                "benchmark": "serial_link",
                "profile": "default (64 heaters, 16 sensors)",
                "seconds_per_loop": args.seconds,
                "python": platform.python_version(),
                "platform": platform.platform(),
                "cpus": os.cpu_count(),
                "note": "a pty ignores baud rate; paced rows emulate UART line time (8N1)",
                "rows": [asdict(r) for r in rows],
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
