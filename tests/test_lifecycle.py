"""Which signals stop photond the clean way (parked, journaled, exit 0) and which do not."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

import grpc
import pytest

from daemon_process import cleanup, holding_graph, start_daemon
from photon.v1 import job_pb2, job_pb2_grpc, telemetry_pb2, telemetry_pb2_grpc
from photon_sdk import Client, JobState
from photond.service.lifecycle import stop_signals


def test_every_terminating_signal_but_reload_and_state_dump_stops_cleanly() -> None:
    stops = set(stop_signals())
    assert {signal.SIGTERM, signal.SIGINT, signal.SIGQUIT, signal.SIGUSR2, signal.SIGALRM} <= stops
    assert set(range(signal.SIGRTMIN, signal.SIGRTMAX + 1)) <= stops
    assert not stops & {signal.SIGHUP, signal.SIGUSR1, signal.SIGKILL, signal.SIGSTOP}


@pytest.mark.integration
def test_sigalrm_parks_the_device_and_fails_the_running_job() -> None:
    # SIGALRM's default action would end the process with the heater on.
    running = start_daemon()
    try:
        graph = holding_graph()
        with Client(running.target) as client:
            job = client.submit_job(graph)
            next(e for e in client.watch_job(job.id) if e.kind == "task_started")
        running.process.send_signal(signal.SIGALRM)
        assert running.process.wait(60) == 0
        assert "received SIGALRM" in running.log()
        again = start_daemon(running.state_dir)
        try:
            with Client(again.target) as client:
                ended = client.get_job(job.id)
            assert ended.state == JobState.FAILED
            assert "parked in its safe state" in ended.failure_reason
        finally:
            cleanup(again)
    finally:
        cleanup(running)


@pytest.mark.integration
def test_a_stop_ends_open_streams_at_once_saying_why() -> None:
    # Telemetry streams and a queued job's watch never end by themselves; left to the server's
    # grace for calls in flight, each stop would wait it out and end them without a reason.
    running = start_daemon()
    try:
        graph = holding_graph()
        with Client(running.target) as client:
            first = client.submit_job(graph)
            queued = client.submit_job(graph)
            next(e for e in client.watch_job(first.id) if e.kind == "task_started")
        client_done = threading.Event()

        def polls() -> Iterator[telemetry_pb2.PollRequest]:
            # One subscription, then nothing: a poller between its polls, its stream open.
            yield telemetry_pb2.PollRequest(
                subscribe=telemetry_pb2.SubscribeRequest(device_id="sim0")
            )
            client_done.wait(60)

        with grpc.insecure_channel(running.target) as channel:
            telemetry = telemetry_pb2_grpc.TelemetryServiceStub(channel)
            streams: dict[str, Any] = {
                "telemetry": telemetry.Subscribe(
                    telemetry_pb2.SubscribeRequest(device_id="sim0"), timeout=60
                ),
                "poll": telemetry.Poll(polls(), timeout=60),
                "watch": job_pb2_grpc.JobServiceStub(channel).WatchJob(
                    job_pb2.WatchJobRequest(job_id=queued.id), timeout=60
                ),
            }
            ended: dict[str, grpc.RpcError] = {}

            def read(name: str) -> None:  # as a dashboard does: all the time
                try:
                    for _ in streams[name]:
                        pass
                except grpc.RpcError as error:
                    ended[name] = error

            readers = [threading.Thread(target=read, args=(name,)) for name in streams]
            for reader in readers:
                reader.start()
            time.sleep(0.5)  # the streams open
            running.process.send_signal(signal.SIGTERM)
            for reader in readers:
                reader.join(60)
            client_done.set()
        assert running.process.wait(60) == 0
        for name in streams:
            assert ended[name].code() == grpc.StatusCode.UNAVAILABLE, name
            assert ended[name].details() == "photond is stopping", name
    finally:
        cleanup(running)
