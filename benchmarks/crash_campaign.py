"""Crash campaign: submit with idempotency keys while photond is SIGKILLed at random moments.

A client thread submits small jobs one after another, each with its own `request_id`, and
retries a key after any failure (as the SDK's documentation tells a caller to); the script kills
photond with SIGKILL after a random delay, so every kill cuts a submission somewhere (in
planning, in the journal write, between the write and the answer), and
starts it again on the same state directory, `--kills` times. Afterwards every key is
submitted once more and the journal is checked:

* lost: a key whose submission was acknowledged but whose job is gone;
* duplicated: a key that names more than one job;
* stuck: a job that does not reach a terminal state within a minute of the last start;
* gaps: a job whose events do not replay numbered 1..n.

Targets (issue "Robustness"): 200 kills, 0 lost, 0 duplicated, 0 stuck.

    .venv/bin/python benchmarks/crash_campaign.py [--kills 200] [--seed 0] [--json OUT.json]
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

from photon_bench.daemon import start_photond
from photon_sdk import Client, PhotonError, TaskGraph

TIME_SCALE = 10.0


def start(state_dir: Path, socket_path: Path, log_path: Path) -> subprocess.Popen[bytes]:
    return start_photond(
        state_dir, socket_path, log_path, ["--time-scale", str(TIME_SCALE)], timeout_s=300
    )


def graph() -> TaskGraph:
    g = TaskGraph()
    g.add_task("a", duration_s=0.3, heater_power_mw={"h00": 10.0})
    g.add_task("b", duration_s=0.3, depends_on=["a"])
    return g


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="pd-campaign-"))
    state_dir, socket_path, log_path = work / "state", work / "p.sock", work / "photond.log"
    keys: list[str] = []
    acknowledged: dict[str, str] = {}
    failed_calls = 0
    started = time.monotonic()
    process = start(state_dir, socket_path, log_path)
    try:
        for _ in range(args.kills):

            def submit() -> None:
                # New keys until the kill cuts a call: every kill lands mid-submission.
                nonlocal failed_calls
                with Client(f"unix:{socket_path}", timeout_s=5.0) as client:
                    pending = [key for key in keys if key not in acknowledged]
                    while True:
                        key = pending.pop() if pending else uuid.uuid4().hex
                        if key not in keys:
                            keys.append(key)
                        try:
                            acknowledged[key] = client.submit_job(graph(), request_id=key).id
                        except PhotonError:
                            failed_calls += 1
                            return

            submitter = threading.Thread(target=submit)
            submitter.start()
            time.sleep(rng.uniform(0.0, 0.3))
            process.send_signal(signal.SIGKILL)
            process.wait()
            submitter.join(60)
            process = start(state_dir, socket_path, log_path)
        lost = duplicated = stuck = gaps = 0
        with Client(f"unix:{socket_path}", timeout_s=30.0) as client:
            for key in keys:
                job = client.submit_job(graph(), request_id=key)
                if key in acknowledged and job.id != acknowledged[key]:
                    lost += 1  # the acknowledged job is gone: the retry made a new one
            jobs = client.list_jobs(limit=10_000)
            per_key = Counter(job.request_id for job in jobs)
            duplicated = sum(1 for key in keys if per_key[key] > 1)
            for job in jobs:
                if not client.wait_job(job.id).is_terminal:
                    stuck += 1
                sequences = [event.sequence for event in client.watch_job(job.id)]
                gaps += sequences != list(range(1, len(sequences) + 1))
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(60)
    result = {
        "kills": args.kills,
        "keys": len(keys),
        "acknowledged_before_final_retry": len(acknowledged),
        "calls_cut_by_a_kill": failed_calls,
        "jobs": len(jobs),
        "lost": lost,
        "duplicated": duplicated,
        "stuck": stuck,
        "history_gaps": gaps,
        "wall_s": round(time.monotonic() - started, 1),
    }
    width = max(len(k) for k in result)
    for name, value in result.items():
        print(f"{name:<{width}}  {value}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
