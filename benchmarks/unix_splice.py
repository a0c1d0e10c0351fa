"""What the Unix socket's splice costs: photond with roles by uid/gid against photond without.

Two real photonds run side by side from this script, on the same simulated chip at real time:
one binds gRPC to its Unix socket directly (no [security.unix_users]: every caller gets
unix_socket_role), the other has a uid line, so it accepts on the socket itself, reads the
caller's SO_PEERCRED and splices the bytes to gRPC's internal socket
(`photond.security.splice`). The same client code measures both, in alternating rounds so that
the shared machine's load falls on both alike:

- GetDeviceState, one call at a time: p50 / p99 / mean latency;
- telemetry end to end: a SAMPLE subscription at interval 0 (every control-loop sample), the
  latency from a frame's `read_at` (the daemon's wall clock when the loop read the sensors) to
  its receipt here; each frame's `loop_lateness_s` (how late the control loop's pass was: the
  splicer shares photond's interpreter with the loop); and photond's CPU over those windows
  (/proc), splicer thread included.

`--separate-process` adds a third row: the same splicer code in a process of its own in front
of the direct photond, to tell the cost of the extra hop from that of sharing photond's
interpreter. Its connections are unknown to that photond, so every row's calls then carry an
admin bearer token (a token wins over the socket's identity: the same work in every row), and
its CPU figure adds the splicer process's.

    .venv/bin/python benchmarks/unix_splice.py [--calls 2000] [--rounds 4] [--window-s 5]
        [--separate-process] [--json benchmarks/results/unix_splice.json]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import grpc

from photon.v1 import device_pb2, device_pb2_grpc, telemetry_pb2, telemetry_pb2_grpc
from photon_bench.daemon import start_photond
from photond.security.tokens import new_token, token_digest

Metadata = tuple[tuple[str, str], ...]

# The splicer of photond.security.splice alone in a process: argv public path, gRPC's socket.
SEPARATE_SPLICER = """
import sys, time
from pathlib import Path
from photond.security.peercred import PeerTable
from photond.security.splice import Splicer
Splicer.bind(Path(sys.argv[1]), Path(sys.argv[2]), PeerTable()).start()
print("ready", flush=True)
time.sleep(86400)
"""


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def unary_samples(target: str, calls: int, metadata: Metadata) -> list[float]:
    with grpc.insecure_channel(target) as channel:
        stub = device_pb2_grpc.DeviceServiceStub(channel)
        request = device_pb2.GetDeviceStateRequest(device_id="sim0")
        for _ in range(50):  # connection and first calls out of the figures
            stub.GetDeviceState(request, timeout=10, metadata=metadata)
        samples = []
        for _ in range(calls):
            start = time.perf_counter()
            stub.GetDeviceState(request, timeout=10, metadata=metadata)
            samples.append(time.perf_counter() - start)
    return samples


def telemetry_samples(
    target: str, pids: list[int], window_s: float, metadata: Metadata
) -> tuple[list[float], list[float], float]:
    """Frame latencies and the loop's lateness (s) over `window_s` after the initial sync, and
    photond's CPU %."""
    latencies: list[float] = []
    lateness: list[float] = []
    with grpc.insecure_channel(target) as channel:
        stub = telemetry_pb2_grpc.TelemetryServiceStub(channel)
        call = stub.Subscribe(
            telemetry_pb2.SubscribeRequest(device_id="sim0", sample_interval_s=0.0),
            metadata=metadata,
        )
        synced = False
        cpu_start_s = wall_start_s = 0.0
        for update in call:
            now = time.time()
            kind = update.WhichOneof("kind")
            if kind == "sync_response":
                synced = True
                cpu_start_s, wall_start_s = sum(map(cpu_s, pids)), time.monotonic()
                continue
            if not synced or kind != "batch":
                continue
            for frame in update.batch.frames:
                latencies.append(now - (frame.read_at.seconds + frame.read_at.nanos * 1e-9))
                lateness.append(frame.loop_lateness_s)
            if time.monotonic() - wall_start_s >= window_s:
                break
        cpu_used_s = sum(map(cpu_s, pids)) - cpu_start_s
        cpu_pct = 100.0 * cpu_used_s / (time.monotonic() - wall_start_s)
        call.cancel()  # type: ignore[no-untyped-call]
    return latencies, lateness, cpu_pct


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def summary(values: list[float]) -> dict[str, float]:
    return {
        "p50_ms": percentile(values, 0.50) * 1e3,
        "p99_ms": percentile(values, 0.99) * 1e3,
        "mean_ms": statistics.fmean(values) * 1e3,
        "n": len(values),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=2000, help="GetDeviceState calls per round")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--window-s", type=float, default=5.0, help="telemetry seconds per round")
    parser.add_argument("--separate-process", action="store_true")
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results/unix_splice.json"))
    args = parser.parse_args()
    token = new_token()
    metadata: Metadata = (("authorization", f"Bearer {token}"),) if args.separate_process else ()
    token_line = (
        f'[[security.tokens]]\nname = "bench"\nrole = "admin"\nsha256 = "{token_digest(token)}"\n'
    )

    work = Path(tempfile.mkdtemp(prefix="pd-splice-"))
    daemons: dict[str, subprocess.Popen[bytes]] = {}
    targets: dict[str, str] = {}
    pids: dict[str, list[int]] = {}
    splicer: subprocess.Popen[str] | None = None
    try:
        for mode in ("direct", "spliced"):
            folder = work / mode
            folder.mkdir()
            config = folder / "photond.toml"
            # This user's own line: its role is what it would be anyway (admin).
            uid_line = f'[security.unix_users]\n"{os.geteuid()}" = "admin"\n'
            config.write_text(
                (uid_line if mode == "spliced" else "")
                + (token_line if args.separate_process else "")
            )
            socket_path = folder / "photond.sock"
            daemons[mode] = start_photond(
                folder,
                socket_path,
                folder / "photond.log",
                ["--config", str(config), "--listen", "127.0.0.1:0"],
            )
            targets[mode] = f"unix:{socket_path}"
            pids[mode] = [daemons[mode].pid]
        if args.separate_process:
            public = work / "separate.sock"
            splicer = subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    SEPARATE_SPLICER,
                    str(public),
                    str(work / "direct" / "photond.sock"),
                ],
                stdout=subprocess.PIPE,
                text=True,
            )
            assert splicer.stdout is not None and splicer.stdout.readline() == "ready\n"
            targets["own process"] = f"unix:{public}"
            pids["own process"] = [daemons["direct"].pid, splicer.pid]
        unary: dict[str, list[float]] = {m: [] for m in targets}
        frames: dict[str, list[float]] = {m: [] for m in targets}
        cpu: dict[str, list[float]] = {m: [] for m in targets}
        late: dict[str, list[float]] = {m: [] for m in targets}
        for _ in range(args.rounds):
            for mode in targets:
                unary[mode] += unary_samples(targets[mode], args.calls, metadata)
                latencies, lateness, cpu_pct = telemetry_samples(
                    targets[mode], pids[mode], args.window_s, metadata
                )
                frames[mode] += latencies
                late[mode] += lateness
                cpu[mode].append(cpu_pct)
    finally:
        if splicer is not None:
            splicer.kill()
            splicer.wait()
            if splicer.stdout is not None:
                splicer.stdout.close()
        for process in daemons.values():
            process.send_signal(signal.SIGTERM)
        for process in daemons.values():
            process.wait(60)

    rows: list[dict[str, Any]] = []
    for mode in targets:
        rows.append(
            {
                "mode": mode,
                "get_device_state": summary(unary[mode]),
                "telemetry_e2e": summary(frames[mode]),
                "loop_lateness": summary(late[mode]),
                "daemon_cpu_pct": statistics.fmean(cpu[mode]),
            }
        )
    print(
        f"{args.rounds} rounds, alternating; per round {args.calls} GetDeviceState calls and "
        f"{args.window_s:g} s of telemetry at every sample; {os.cpu_count()} CPUs"
    )
    print(
        f"{'Unix socket':<12} {'GetDeviceState p50 ms':>21} {'p99 ms':>8} {'mean ms':>8}"
        f" {'telemetry e2e p50 ms':>21} {'p99 ms':>8} {'frames':>7} {'loop late p99 ms':>17}"
        f" {'photond CPU %':>14}"
    )
    for row in rows:
        u, t, late_ms = row["get_device_state"], row["telemetry_e2e"], row["loop_lateness"]
        print(
            f"{row['mode']:<12} {u['p50_ms']:>21.3f} {u['p99_ms']:>8.3f} {u['mean_ms']:>8.3f}"
            f" {t['p50_ms']:>21.3f} {t['p99_ms']:>8.3f} {t['n']:>7} {late_ms['p99_ms']:>17.3f}"
            f" {row['daemon_cpu_pct']:>14.1f}"
        )
    direct, spliced = rows[:2]
    added_us = (spliced["get_device_state"]["p50_ms"] - direct["get_device_state"]["p50_ms"]) * 1e3
    print(f"splice adds {added_us:.0f} µs to the GetDeviceState p50")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"rounds": args.rounds, "rows": rows}, indent=2))
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
