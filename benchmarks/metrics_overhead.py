"""What metrics cost photond: one recording on the device loop, and a scrape of /metrics.

1. In this process: the per-call time of the instrument the device loop records every pass
   (`photon_control_loop_lateness_seconds`), without a meter provider (the API's no-op proxy)
   and with the daemon's (Prometheus reader), over `--calls` calls.
2. A real photond (simulated chip, real time): windows of `--window-s` wall seconds without
   scrapes and with `/metrics` scraped at `--scrape-hz`, alternated `--rounds` times. Each
   window's figures come from the daemon's own lateness histogram (the difference of the
   scrapes that open and close it): passes, the share of passes later than 0.5, 1 and 2 ms
   after their tick, and the p99 bucket; beside them the scrape's latency and size.

Usage: python benchmarks/metrics_overhead.py [--calls 200000] [--window-s 20] [--scrape-hz 10]
       [--rounds 2] [--json benchmarks/results/metrics_overhead.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from daemon_process import cleanup, start_daemon  # type: ignore[import-not-found,unused-ignore]

LATENESS = "photon_control_loop_lateness_seconds"


def record_ns(calls: int) -> tuple[float, float]:
    """(wall ns, CPU ns) per recording: on a loaded machine the wall time includes the time
    other processes held the core; the CPU time is this process's own."""
    from photond.metrics import instruments

    attributes = {"device": "sim0"}
    record = instruments.loop_lateness.record
    wall, cpu = time.perf_counter_ns(), time.process_time_ns()
    for k in range(calls):
        record(k * 1e-6, attributes)
    return (time.perf_counter_ns() - wall) / calls, (time.process_time_ns() - cpu) / calls


def scrape(url: str) -> tuple[dict[float, float], float, int]:
    """(lateness bucket upper bound -> cumulative count, seconds the scrape took, bytes)."""
    start = time.perf_counter()
    with urllib.request.urlopen(url, timeout=10) as reply:
        body = reply.read()
    took_s = time.perf_counter() - start
    buckets: dict[float, float] = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            if sample.name == f"{LATENESS}_bucket":
                buckets[float(sample.labels["le"])] = sample.value
    return buckets, took_s, len(body)


def window(url: str, seconds: float, hz: float) -> dict[str, Any]:
    before, _, _ = scrape(url)
    latencies, sizes = [], []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if hz > 0:
            _, took_s, size = scrape(url)
            latencies.append(took_s)
            sizes.append(size)
            time.sleep(max(0.0, 1.0 / hz - took_s))
        else:
            time.sleep(min(0.5, end - time.monotonic()))
    after, _, _ = scrape(url)
    delta = {le: after[le] - before.get(le, 0.0) for le in after}
    passes = delta[float("inf")]

    def later_than(bound_s: float) -> float:
        return 1.0 - delta[bound_s] / passes if passes else float("nan")

    p99 = next(le for le in sorted(delta) if delta[le] >= 0.99 * passes)
    row: dict[str, Any] = {
        "scrape_hz": hz,
        "passes": int(passes),
        "late_0.5ms": later_than(0.0005),
        "late_1ms": later_than(0.001),
        "late_2ms": later_than(0.002),
        "p99_bucket_s": p99,
    }
    if latencies:
        latencies.sort()
        row["scrape_p50_ms"] = 1e3 * statistics.median(latencies)
        row["scrape_p99_ms"] = 1e3 * latencies[int(0.99 * (len(latencies) - 1))]
        row["scrape_bytes"] = int(statistics.median(sizes))
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200_000)
    parser.add_argument("--window-s", type=float, default=20.0)
    parser.add_argument("--scrape-hz", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    no_provider_ns = record_ns(args.calls)
    from photond.metrics.export import configure_metrics

    configure_metrics(prometheus=True, env={})
    with_provider_ns = record_ns(args.calls)
    print("one lateness recording (the loop's per-pass cost)    wall ns    CPU ns")
    for name, (wall_ns, cpu_ns) in (
        ("no meter provider (no-op proxy)", no_provider_ns),
        ("daemon's provider (Prometheus reader)", with_provider_ns),
    ):
        print(f"  {name:45s}  {wall_ns:8.0f}  {cpu_ns:8.0f}")

    daemon = start_daemon(None, time_scale=1.0)
    rows = []
    try:
        url = daemon.metrics_url()
        time.sleep(2.0)  # past the first passes after READY
        for _ in range(args.rounds):
            for hz in (0.0, args.scrape_hz):
                rows.append(window(url, args.window_s, hz))
    finally:
        cleanup(daemon)
    print(f"\ncontrol loop (10 ms period, real time), {args.window_s:g} s windows")
    head = "scrape/s  passes  >0.5ms   >1ms    >2ms   p99 bucket  scrape p50/p99 ms  bytes"
    print(head)
    for row in rows:
        scrape_cols = (
            f"{row['scrape_p50_ms']:7.1f} /{row['scrape_p99_ms']:6.1f}   {row['scrape_bytes']:6d}"
            if "scrape_p50_ms" in row
            else f"{'-':>16}  {'-':>6}"
        )
        print(
            f"{row['scrape_hz']:8g}  {row['passes']:6d}  {row['late_0.5ms']:6.2%}  "
            f"{row['late_1ms']:6.2%}  {row['late_2ms']:6.2%}  {row['p99_bucket_s'] * 1e3:7.1f} ms"
            f"  {scrape_cols}"
        )
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "record_ns_wall_cpu": {
                        "no_provider": no_provider_ns,
                        "prometheus": with_provider_ns,
                    },
                    "load_average": os.getloadavg(),
                    "windows": rows,
                    "args": vars(args),
                },
                default=str,
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
