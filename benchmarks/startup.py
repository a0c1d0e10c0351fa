"""What photond costs to start and to keep running: cold and warm start to READY, idle CPU and
memory at real time, memory after a burst of large jobs, and what the memory is made of.

Each start is a real `photond` subprocess on a temporary Unix socket, timed from spawn to the
first answered health check (READY: the daemon serves only after its kernels are loaded). A
cold start uses an empty numba cache directory, a warm one the cache the cold start wrote.
The warm start is repeated `--warm-starts` times (a fresh state directory each; the last
daemon stays for the moments below): its figure is their median, and every start is in the
JSON. The load average is printed and kept beside the figures: on a shared machine it moves
them more than most changes do.

Memory is read per process from /proc/PID/smaps_rollup (photond.memory): RSS, PSS (each
shared page divided among the processes sharing it, so the PSS sum counts the libraries the
daemon and its planning worker share once) and anonymous (the process's own heap, arenas,
stacks, arrays). Three moments, each after `--idle-s` seconds of idling, CPU time measured
over the same seconds:

- *workers warm*: just after READY (5 s at most), the planning worker(s) up;
- *idle*: once the workers have exited (`planning_idle_exit_s` without a plan): the idle
  figure, against the 200 MB target;
- *after burst*: `--burst` jobs of `--burst-tasks` tasks submitted, planned and cancelled,
  then the workers' exit waited for again. The ratio is its summed RSS over the idle one's.

Between *idle* and the burst, a one-task job is submitted twice: the first plan starts the
workers again and waits for their warm-up (what a plan after an idle spell costs), the second
finds them warm.

Then `photon_bench.memory_causes` rebuilds an idle daemon's memory step by step in a fresh
process (imports, the simulated chip's plant, the kernels and models) and the daemon's own
figure is set beside it: the difference is what running adds (threads, arenas, the journal,
telemetry history).

`--source DIR` runs the daemon (and the causes) from another checkout's sources, so two trees
are compared by one script on the same input; `--daemon-env KEY=VALUE` sets the daemon's
environment (e.g. PYTHONMALLOC=malloc: the daemon on glibc's allocator, docs/operations.md
"Memory").

Usage: python benchmarks/startup.py [--idle-s 30] [--burst 5] [--burst-tasks 20000]
       [--planning-idle-exit-s S] [--warm-starts 3] [--skip-cold] [--source DIR]
       [--daemon-env K=V] [--json out.json]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from photon_sdk import Client, JobState, PhotonError, TaskGraph
from photond.memory import process_memory, resident_by_mapping

TICKS_PER_S = os.sysconf("SC_CLK_TCK")
# The daemon's control period, passed to it (photond's default): the paced floor beside the
# idle figure wakes at the same rate. (Not read from photond.config: that imports numba, and
# this process must not map LLVM beside the daemon; see photond.memory.)
CONTROL_PERIOD_S = 0.01
BENCHMARKS = Path(__file__).resolve().parent


def children(pid: int) -> list[int]:
    """`pid`'s child processes (the planning workers and multiprocessing's tracker)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rpartition(")")[2].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def role(pid: int, daemon_pid: int) -> str:
    if pid == daemon_pid:
        return "daemon"
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return "gone"
    if b"resource_tracker" in cmdline:
        return "multiprocessing tracker"
    return "planning worker" if b"spawn_main" in cmdline else "other child"


def workers(daemon_pid: int) -> list[int]:
    return [p for p in children(daemon_pid) if role(p, daemon_pid) == "planning worker"]


def cpu_s(pids: list[int]) -> dict[int, float]:
    """CPU seconds (user + system) of each of `pids` still running."""
    used = {}
    for pid in pids:
        with contextlib.suppress(OSError), open(f"/proc/{pid}/stat") as f:
            fields = f.read().rpartition(")")[2].split()
            used[pid] = (int(fields[11]) + int(fields[12])) / TICKS_PER_S  # utime, stime
    return used


def daemon_env(args: argparse.Namespace, cache: Path) -> dict[str, str]:
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache))
    if args.source is not None:
        tree = args.source.resolve()
        paths = [str(tree / part) for part in ("daemon", "drivers", "sdk")]
        env["PYTHONPATH"] = os.pathsep.join([*paths, env.get("PYTHONPATH", "")]).rstrip(":")
    for assignment in args.daemon_env:
        key, _, value = assignment.partition("=")
        env[key] = value
    return env


def start(
    work: Path, env: dict[str, str], extra: list[str]
) -> tuple[subprocess.Popen[bytes], float, str]:
    work.mkdir(parents=True, exist_ok=True)
    socket_path = work / "p.sock"
    log = open(work / "photond.log", "ab")  # noqa: SIM115 (the daemon writes it until stopped)
    t0 = time.perf_counter()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "photond",
            *("--listen", f"unix:{socket_path}", "--state-dir", str(work / "state")),
            # The endpoint stays on, as `make run` has it, on a free port: the default one is
            # fixed, and another photond on the machine would hold it.
            *("--metrics-listen", "127.0.0.1:0"),
            *("--control-period-s", str(CONTROL_PERIOD_S)),
            *extra,
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


def paced_floor_percent(seconds: float, period_s: float) -> float:
    """CPU % of one core that this thread uses waking every `period_s` for `seconds` and doing
    nothing else: what the host charges a Python thread merely for waking at the control loop's
    rate (its wait is the loop's, `threading.Event.wait` to the next tick).

    On a virtual machine that deschedules an idle vCPU, caches and TLB entries are cold after
    every wait, and the host, not photond, sets this. On 2026-12-06 here it went from 0.6-1.0 %
    in the morning to 0.3-0.6 % later, and the daemon's idle figure with it (stop 34's note).
    Measured beside the daemon, in the same seconds, it says what the idle figure is made of on
    the machine the benchmark ran on.
    """
    wake = threading.Event()
    start_cpu_s, start_s = time.thread_time(), time.monotonic()
    due_s = start_s
    while (now_s := time.monotonic()) < start_s + seconds:
        due_s += period_s
        wake.wait(max(0.0, due_s - now_s))
    return 100.0 * (time.thread_time() - start_cpu_s) / (time.monotonic() - start_s)


def snapshot(process: subprocess.Popen[bytes], idle_s: float) -> dict[str, Any]:
    """CPU % of one core over `idle_s` seconds of the process tree (and, in the same seconds,
    `paced_floor_percent`), then each process's memory."""
    pids = [process.pid, *children(process.pid)]
    before, t0 = cpu_s(pids), time.perf_counter()
    floor_percent = paced_floor_percent(idle_s, CONTROL_PERIOD_S)
    after = cpu_s(pids)
    # Over the processes there at both ends (a worker may exit meanwhile, taking its count).
    used_s = sum(after[pid] - before[pid] for pid in after if pid in before)
    cpu_percent = 100.0 * used_s / (time.perf_counter() - t0)
    processes = []
    for pid in [process.pid, *children(process.pid)]:
        with contextlib.suppress(OSError):
            memory = process_memory(pid)
            processes.append(
                {
                    "process": role(pid, process.pid),
                    "pid": pid,
                    "rss_mb": memory.rss_mb,
                    "pss_mb": memory.pss_mb,
                    "anonymous_mb": memory.anonymous_mb,
                }
            )
    return {
        "cpu_percent": cpu_percent,
        "paced_floor_percent": floor_percent,
        "processes": processes,
        "rss_mb": sum(p["rss_mb"] for p in processes),
        "pss_mb": sum(p["pss_mb"] for p in processes),
        "anonymous_mb": sum(p["anonymous_mb"] for p in processes),
        "daemon_by_mapping_mb": resident_by_mapping(process.pid),
    }


def wait_for_worker_exit(process: subprocess.Popen[bytes], timeout_s: float) -> float | None:
    """Seconds until no planning worker is left, or None if one still runs after `timeout_s`."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout_s:
        if not workers(process.pid):
            return time.perf_counter() - t0
        time.sleep(0.2)
    return None


def one_task_plan_s(target: str) -> float:
    """Seconds SubmitJob takes for a one-task graph (its planning, workers up or not)."""
    graph = TaskGraph(name="startup probe")
    graph.add_task("t", duration_s=0.01, heater_power_mw={"h00": 5.0})
    with Client(target, timeout_s=600.0) as client:
        t0 = time.perf_counter()
        job = client.submit_job(graph)
        elapsed = time.perf_counter() - t0
        if client.wait_job(job.id).state != JobState.COMPLETED:
            raise SystemExit(f"the probe job {job.id} did not complete")
    return elapsed


def burst(target: str, jobs: int, tasks: int) -> float:
    """Submit `jobs` jobs of `tasks` tasks one after another, then cancel them; returns the
    seconds the submissions took (their planning, and the daemon taking each plan in)."""
    graph = TaskGraph(name="startup burst")
    for i in range(tasks):
        graph.add_task(f"t{i}", duration_s=0.01, heater_power_mw={f"h0{i % 4}": 5.0})
    with Client(target, timeout_s=600.0) as client:
        t0 = time.perf_counter()
        ids = [client.submit_job(graph).id for _ in range(jobs)]
        elapsed = time.perf_counter() - t0
        for job_id in ids:
            with contextlib.suppress(PhotonError):  # finished already
                client.cancel_job(job_id)
    return elapsed


def causes(env: dict[str, str]) -> list[dict[str, Any]]:
    env = dict(env, PYTHONPATH=os.pathsep.join([str(BENCHMARKS), env.get("PYTHONPATH", "")]))
    out = subprocess.run(
        [sys.executable, "-m", "photon_bench.memory_causes"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rows: list[dict[str, Any]] = json.loads(out)
    return rows


def print_tables(figures: dict[str, Any], moments: dict[str, Any], steps: list[Any]) -> None:
    targets = {
        "warm start to READY s": "<= 2",
        "idle CPU % of a core": "<= 3",
        "idle RSS MB (summed)": "<= 200",
        "RSS after burst / idle": "<= 1.10",
    }
    print(f"{'figure':40s} {'value':>10s}  target")
    for name, value in figures.items():
        shown = "-" if value is None else f"{value:10.2f}"
        print(f"{name:40s} {shown:>10s}  {targets.get(name, '')}")
    print(f"\n{'moment':16s} {'process':24s} {'RSS MB':>8s} {'PSS MB':>8s} {'anon MB':>8s}")
    for moment, shot in moments.items():
        for p in shot["processes"]:
            print(
                f"{moment:16s} {p['process']:24s} "
                f"{p['rss_mb']:8.1f} {p['pss_mb']:8.1f} {p['anonymous_mb']:8.1f}"
            )
        print(
            f"{moment:16s} {'sum':24s} "
            f"{shot['rss_mb']:8.1f} {shot['pss_mb']:8.1f} {shot['anonymous_mb']:8.1f}"
        )
    if steps:
        print(f"\n{'idle daemon, by cause':36s} {'+RSS MB':>8s} {'+anon MB':>9s} {'RSS MB':>8s}")
        for row in steps:
            print(
                f"{row['step']:36s} {row.get('added_rss_mb', row['rss_mb']):8.1f} "
                f"{row.get('added_anonymous_mb', row['anonymous_mb']):9.1f} {row['rss_mb']:8.1f}"
            )
        daemon = moments["idle"]["processes"][0]
        print(
            f"{'running (daemon idle minus above)':36s} "
            f"{daemon['rss_mb'] - steps[-1]['rss_mb']:8.1f} "
            f"{daemon['anonymous_mb'] - steps[-1]['anonymous_mb']:9.1f} {daemon['rss_mb']:8.1f}"
        )
    # Where the burst's growth is: `[anon]` holds pymalloc's arenas (and thread stacks, large
    # arrays), `[heap]` glibc's main heap.
    idle = moments["idle"]["daemon_by_mapping_mb"]
    after = moments.get("after burst", {}).get("daemon_by_mapping_mb", {})
    print(f"\n{'daemon, resident MB by mapping':40s} {'idle':>8s} {'after burst':>12s}")
    for name in list(idle)[:8]:
        print(f"  {name:38s} {idle[name]:8.1f} {after.get(name, 0.0):12.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--idle-s", type=float, default=30.0)
    parser.add_argument("--burst", type=int, default=5)
    parser.add_argument("--burst-tasks", type=int, default=20_000)
    parser.add_argument(
        "--planning-idle-exit-s",
        type=float,
        help="passed to photond (default: photond's own, 300 s)",
    )
    parser.add_argument(
        "--warm-starts",
        type=int,
        default=3,
        help="warm starts timed; the figure is their median (default 3)",
    )
    parser.add_argument("--skip-cold", action="store_true", help="reuse $NUMBA_CACHE_DIR")
    parser.add_argument("--skip-causes", action="store_true")
    parser.add_argument("--source", type=Path, help="a checkout whose photond to run")
    parser.add_argument("--daemon-env", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if args.warm_starts < 1:
        parser.error("--warm-starts must be at least 1")
    if args.skip_cold and "NUMBA_CACHE_DIR" not in os.environ:
        parser.error("--skip-cold reuses $NUMBA_CACHE_DIR: set it to a warm kernel cache")
    work = Path(tempfile.mkdtemp(prefix="pd-start-"))
    cache = Path(os.environ["NUMBA_CACHE_DIR"]) if args.skip_cold else work / "numba"
    env = daemon_env(args, cache)
    extra = []
    if args.planning_idle_exit_s is not None:
        extra = ["--planning-idle-exit-s", str(args.planning_idle_exit_s)]
    # Long enough for photond's default idle exit (300 s) and a loaded machine.
    exit_wait_s = (args.planning_idle_exit_s or 300.0) + 90.0
    figures: dict[str, Any] = {"load average (1 min) at the start": os.getloadavg()[0]}
    moments: dict[str, Any] = {}
    if not args.skip_cold:
        process, figures["cold start to READY s"], _ = start(work / "cold", env, extra)
        stop(process)
    warm_s = []
    for k in range(args.warm_starts):
        process, seconds, target = start(work / f"warm{k}", env, extra)
        warm_s.append(seconds)
        if k < args.warm_starts - 1:
            stop(process)
    figures["warm start to READY s"] = statistics.median(warm_s)
    figures["warm start, fastest s"] = min(warm_s)
    figures["warm start, slowest s"] = max(warm_s)
    try:
        # Shorter: the workers must still be there at its end (planning_idle_exit_s).
        moments["workers warm"] = snapshot(process, min(args.idle_s, 5.0))
        figures["workers exit after s"] = wait_for_worker_exit(process, exit_wait_s)
        moments["idle"] = snapshot(process, args.idle_s)
        figures["idle CPU % of a core"] = moments["idle"]["cpu_percent"]
        figures["host: bare thread at loop rate, % core"] = moments["idle"]["paced_floor_percent"]
        figures["idle RSS MB (summed)"] = moments["idle"]["rss_mb"]
        figures["idle PSS MB (summed)"] = moments["idle"]["pss_mb"]
        figures["plan, workers exited s"] = one_task_plan_s(target)
        figures["plan, workers warm s"] = one_task_plan_s(target)
        figures["burst: submits s"] = burst(target, args.burst, args.burst_tasks)
        wait_for_worker_exit(process, exit_wait_s)
        moments["after burst"] = snapshot(process, args.idle_s)
        figures["after burst: RSS MB (summed)"] = moments["after burst"]["rss_mb"]
        figures["after burst: PSS MB (summed)"] = moments["after burst"]["pss_mb"]
        figures["RSS after burst / idle"] = (
            moments["after burst"]["rss_mb"] / moments["idle"]["rss_mb"]
        )
        figures["daemon anon after burst / idle"] = (
            moments["after burst"]["processes"][0]["anonymous_mb"]
            / moments["idle"]["processes"][0]["anonymous_mb"]
        )
    finally:
        stop(process)
    figures["load average (1 min) at the end"] = os.getloadavg()[0]
    steps = [] if args.skip_causes else causes(env)
    print_tables(figures, moments, steps)
    print(f"\nwarm starts to READY s: {', '.join(f'{s:.2f}' for s in warm_s)}")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "figures": figures,
                    "warm_starts_s": warm_s,
                    "moments": moments,
                    "causes": steps,
                    "args": vars(args),
                },
                default=str,
            )
        )


if __name__ == "__main__":
    main()
