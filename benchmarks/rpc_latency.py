"""Unary GetDevice latency over a Unix socket and loopback TCP, next to a bare grpcio echo.

Over TCP photond needs an identity: the calls carry a viewer's bearer token (made here as
`photond hash-token` makes one), so the TCP rows include authentication; the echo server gets
the same metadata, so both carry the same bytes.

Both servers run as separate processes started by this script, on grpc.aio like photond, and
are measured in the same run with the same client loop; the echo server answers with a payload
of the same size as photond's GetDevice answer, so the difference is what photond itself adds.

    .venv/bin/python benchmarks/rpc_latency.py [--calls 3000] [--json OUT.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from photon.v1 import device_pb2, device_pb2_grpc
from photond.security.tokens import new_token, token_digest

ECHO_METHOD = "/bench.Echo/Echo"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def run_echo_server(addresses: list[str], payload_bytes: int) -> None:
    payload = b"x" * payload_bytes

    async def echo(request: bytes, context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
        return payload

    server = grpc.aio.server()
    handler = grpc.method_handlers_generic_handler(
        "bench.Echo", {"Echo": grpc.unary_unary_rpc_method_handler(echo)}
    )
    server.add_generic_rpc_handlers((handler,))
    for address in addresses:
        server.add_insecure_port(address)
    await server.start()
    print("ready", flush=True)
    await server.wait_for_termination()


def wait_ready(target: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with grpc.insecure_channel(target) as channel:
                reply = health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(), timeout=1
                )
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
        except grpc.RpcError:
            time.sleep(0.1)
    raise SystemExit(f"no server answered on {target}")


def measure(
    target: str,
    call_factory: str,
    calls: int,
    warmup: int,
    metadata: tuple[tuple[str, str], ...] = (),
) -> list[float]:
    with grpc.insecure_channel(target) as channel:
        if call_factory == "photond":
            stub = device_pb2_grpc.DeviceServiceStub(channel)
            request = device_pb2.GetDeviceRequest(device_id="sim0")

            def call() -> object:
                return stub.GetDevice(request, timeout=5, metadata=metadata)
        else:
            echo = channel.unary_unary(
                ECHO_METHOD, request_serializer=None, response_deserializer=None
            )

            def call() -> object:
                return echo(b"sim0", timeout=5, metadata=metadata)

        for _ in range(warmup):
            call()
        samples = []
        for _ in range(calls):
            start = time.perf_counter()
            call()
            samples.append(time.perf_counter() - start)
    return samples


def summarise(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_us": ordered[len(ordered) // 2] * 1e6,
        "p99_us": ordered[int(len(ordered) * 0.99)] * 1e6,
        "mean_us": statistics.fmean(ordered) * 1e6,
        "calls": len(ordered),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results/rpc_latency.json"))
    parser.add_argument("--echo-server", nargs="+", help=argparse.SUPPRESS)
    parser.add_argument("--payload-bytes", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.echo_server:
        asyncio.run(run_echo_server(args.echo_server, args.payload_bytes))
        return

    workdir = Path(tempfile.mkdtemp(prefix="pd-bench-"))
    photond_unix = f"unix:{workdir / 'photond.sock'}"
    photond_tcp = f"127.0.0.1:{free_port()}"
    echo_unix = f"unix:{workdir / 'echo.sock'}"
    echo_tcp = f"127.0.0.1:{free_port()}"
    token = new_token()
    config = workdir / "photond.toml"
    config.write_text(
        f'[[security.tokens]]\nname = "bench"\nrole = "viewer"\nsha256 = "{token_digest(token)}"\n'
    )
    daemon = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "photond",
            "--listen",
            photond_unix,
            "--listen",
            photond_tcp,
            "--state-dir",
            str(workdir),
            "--config",
            str(config),
            "--log-level",
            "WARNING",
        ],
        stdout=subprocess.DEVNULL,
    )
    echo = None
    try:
        wait_ready(photond_unix)
        with grpc.insecure_channel(photond_unix) as channel:
            device = device_pb2_grpc.DeviceServiceStub(channel).GetDevice(
                device_pb2.GetDeviceRequest(device_id="sim0")
            )
        payload_bytes = device.ByteSize()
        echo = subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--echo-server",
                echo_unix,
                echo_tcp,
                "--payload-bytes",
                str(payload_bytes),
            ],
            stdout=subprocess.PIPE,
        )
        assert echo.stdout is not None
        echo.stdout.readline()
        rows = []
        bearer = (("authorization", f"Bearer {token}"),)
        for transport, p_target, e_target, metadata in (
            ("unix", photond_unix, echo_unix, ()),
            ("tcp", photond_tcp, echo_tcp, bearer),
        ):
            for server, target in (("photond GetDevice", p_target), ("bare grpcio echo", e_target)):
                kind = "photond" if server.startswith("photond") else "echo"
                samples = measure(target, kind, args.calls, args.warmup, metadata)
                stats = summarise(samples)
                rows.append({"server": server, "transport": transport, **stats})
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(30)
        if echo is not None:
            echo.kill()
            echo.wait()

    print(
        f"GetDevice answer: {payload_bytes} bytes; {args.calls} calls each after "
        f"{args.warmup} warm-up; {os.cpu_count()} CPUs"
    )
    print(f"{'server':<20} {'transport':<9} {'p50 µs':>9} {'p99 µs':>9} {'mean µs':>9}")
    for row in rows:
        print(
            f"{row['server']:<20} {row['transport']:<9} {row['p50_us']:>9.0f} "
            f"{row['p99_us']:>9.0f} {row['mean_us']:>9.0f}"
        )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"payload_bytes": payload_bytes, "rows": rows}, indent=2))
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
