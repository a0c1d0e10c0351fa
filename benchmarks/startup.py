"""What photond costs to start and to keep running: cold and warm start to READY, idle CPU and
memory at real time, and memory after a burst of large jobs.

Each start is a real `photond` subprocess on a temporary Unix socket, timed from spawn to the
first answered health check (READY: the daemon serves only after its kernels are loaded). A
cold start uses an empty numba cache directory, a warm one the cache the cold start wrote.
Idle CPU is the daemon's and its planning workers' CPU time over `--idle-s` wall seconds,
from /proc; RSS likewise summed over the process tree, and PSS beside it (shared pages
counted once). The burst submits `--burst` jobs of
`--burst-tasks` tasks, waits until they have been planned and cancels them, then measures RSS
again after the same idle wait.

Usage: python benchmarks/startup.py [--idle-s 30] [--burst 5] [--burst-tasks 20000]
       [--skip-cold] [--json out.json]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from photon_sdk import Client, PhotonError, TaskGraph

PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")
TICKS_PER_S = os.sysconf("SC_CLK_TCK")


def tree(pid: int) -> list[int]:
    """`pid` and its children (the planning workers and multiprocessing's tracker)."""
    pids = [pid]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rpartition(")")[2].split()[1]) == pid:
                pids.append(int(entry.name))
    return pids


def cpu_s(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rpartition(")")[2].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICKS_PER_S


def rss_mb(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/statm") as f:
            total += int(f.read().split()[1])
    return total * PAGE_BYTES / 1e6


def pss_mb(pids: list[int]) -> float:
    """Proportional set size: RSS with each shared page split among the processes sharing it.
    Summed RSS counts the libraries the daemon and its workers share (numpy, numba's LLVM)
    once per process; summed PSS counts them once."""
    total_kb = 0
    for pid in pids:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    total_kb += int(line.split()[1])
    return total_kb * 1024 / 1e6


def start(work: Path, cache: Path) -> tuple[subprocess.Popen[bytes], float, str]:
    work.mkdir(parents=True, exist_ok=True)
    socket_path = work / "p.sock"
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache))
    log = open(work / "photond.log", "ab")  # noqa: SIM115 (the daemon writes it until stopped)
    t0 = time.perf_counter()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "photond",
            *("--listen", f"unix:{socket_path}", "--state-dir", str(work / "state")),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    target = f"unix:{socket_path}"
    while time.perf_counter() - t0 < 900:
        if process.poll() is not None:
            raise SystemExit(f"photond exited with {process.returncode}; see {work}/photond.log")
        if socket_path.exists():
            try:
                with grpc.insecure_channel(target) as channel:
                    answer = health_pb2_grpc.HealthStub(channel).Check(
                        health_pb2.HealthCheckRequest(), timeout=1.0
                    )
                if answer.status == health_pb2.HealthCheckResponse.SERVING:
                    return process, time.perf_counter() - t0, target
            except grpc.RpcError:
                pass
        time.sleep(0.05)
    raise SystemExit("photond was not ready within 900 s")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    process.wait(60)


def idle(process: subprocess.Popen[bytes], idle_s: float) -> tuple[float, float, float]:
    """(CPU % of one core, RSS MB, PSS MB) of the process tree over `idle_s` seconds."""
    pids = tree(process.pid)
    before, t0 = cpu_s(pids), time.perf_counter()
    time.sleep(idle_s)
    pids = [p for p in pids if Path(f"/proc/{p}").exists()]
    used = cpu_s(pids) - before
    now = tree(process.pid)
    return 100.0 * used / (time.perf_counter() - t0), rss_mb(now), pss_mb(now)


def burst(target: str, jobs: int, tasks: int) -> None:
    graph = TaskGraph(name="startup burst")
    for i in range(tasks):
        graph.add_task(f"t{i}", duration_s=0.01, heater_power_mw={f"h0{i % 4}": 5.0})
    with Client(target, timeout_s=600.0) as client:
        ids = [client.submit_job(graph).id for _ in range(jobs)]
        for job_id in ids:
            with contextlib.suppress(PhotonError):  # finished already
                client.cancel_job(job_id)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--idle-s", type=float, default=30.0)
    parser.add_argument("--burst", type=int, default=5)
    parser.add_argument("--burst-tasks", type=int, default=20_000)
    parser.add_argument("--skip-cold", action="store_true", help="reuse $NUMBA_CACHE_DIR")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="pd-start-"))
    rows: dict[str, Any] = {}
    cache = Path(os.environ["NUMBA_CACHE_DIR"]) if args.skip_cold else work / "numba"
    if not args.skip_cold:
        process, rows["cold start to READY s"], _ = start(work / "cold", cache)
        stop(process)
    process, rows["warm start to READY s"], target = start(work / "warm", cache)
    try:
        rows["idle CPU % of a core"], rows["idle RSS MB"], rows["idle PSS MB"] = idle(
            process, args.idle_s
        )
        burst(target, args.burst, args.burst_tasks)
        after = idle(process, args.idle_s)
        rows["after burst: CPU %"], rows["after burst: RSS MB"], rows["after burst: PSS MB"] = after
        rows["RSS after burst / idle"] = rows["after burst: RSS MB"] / rows["idle RSS MB"]
        rows["processes"] = len(tree(process.pid))
    finally:
        stop(process)
    targets = {
        "warm start to READY s": "<= 2",
        "idle CPU % of a core": "<= 3",
        "idle RSS MB": "<= 200",
        "RSS after burst / idle": "<= 1.10",
    }
    print(f"{'figure':32s} {'value':>10s}  target")
    for name, value in rows.items():
        print(f"{name:32s} {value:10.2f}  {targets.get(name, '')}")
    if args.json:
        args.json.write_text(json.dumps({"figures": rows, "args": vars(args)}, default=str))


if __name__ == "__main__":
    main()
