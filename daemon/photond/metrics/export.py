"""Install the meter provider and its readers: the Prometheus endpoint and, when named, OTLP.

Prometheus scrapes `http://HOST:PORT/metrics` (the setting `metrics_listen`, default
127.0.0.1:9464, the OpenTelemetry Prometheus exporter's port; "off" serves none). OTLP/gRPC
exports every `OTEL_METRIC_EXPORT_INTERVAL` ms (60 s by default) when
`OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT` is set; the exporter
reads the other standard OTEL_EXPORTER_OTLP_* variables itself.

The endpoint is an HTTP server thread of prometheus_client. A scrape runs the observable
instruments' callbacks (`photond.metrics.observed`) on that thread, reading what the device
loops publish: the loops never wait for it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from wsgiref.simple_server import WSGIServer

from opentelemetry import metrics
from opentelemetry.sdk.metrics import AlwaysOffExemplarFilter, ExemplarFilter, MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource

log = logging.getLogger("photond.metrics")

DEFAULT_METRICS_PORT = 9464
# What the setting `metrics_listen` says to serve no endpoint.
METRICS_OFF = "off"
_OTLP_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT")


def configure_metrics(prometheus: bool, env: Mapping[str, str] = os.environ) -> MeterProvider:
    """Install the process's meter provider with a Prometheus reader (`prometheus`) and an
    OTLP reader when a collector is named; returns it (shut it down to flush OTLP)."""
    readers: list[MetricReader] = []
    if prometheus:
        from opentelemetry.exporter.prometheus import PrometheusMetricReader

        readers.append(PrometheusMetricReader())
    if any(env.get(name) for name in _OTLP_VARIABLES):
        # Imported only when used: the exporter brings its own gRPC channel machinery.
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter

        readers.append(PeriodicExportingMetricReader(OTLPMetricExporter()))
    provider = MeterProvider(
        metric_readers=readers,
        resource=Resource.create({"service.name": "photond"}),
        exemplar_filter=exemplar_filter(env),
    )
    metrics.set_meter_provider(provider)
    return provider


def exemplar_filter(env: Mapping[str, str] = os.environ) -> ExemplarFilter | None:
    """Which measurements keep an exemplar (None: the SDK's choice, `trace_based` unless the
    standard `OTEL_METRICS_EXEMPLAR_FILTER` names another).

    None where an exemplar can go anywhere: OTLP sends them. Prometheus' reader drops them, so
    with it alone none is kept. Kept, the default records one for every measurement taken in a
    sampled span (every RPC's, and the daemon samples every span), and each histogram series
    holds the latest per bucket, with its attributes and trace context: objects made during a
    burst of jobs that outlive it, scattered over the interpreter's arenas, which they keep
    resident (benchmarks/memory_survivors.py, docs/operations.md "Memory").
    """
    if env.get("OTEL_METRICS_EXEMPLAR_FILTER") or any(env.get(name) for name in _OTLP_VARIABLES):
        return None
    return AlwaysOffExemplarFilter()


# How often `MetricsEndpoint.close` wakes the server's thread until it has stopped.
POKE_INTERVAL_S = 0.02


@dataclass
class MetricsEndpoint:
    """The Prometheus endpoint's HTTP server, and the address it bound."""

    server: WSGIServer
    address: str

    @property
    def url(self) -> str:
        return f"http://{self.address}/metrics"

    def close(self) -> None:
        """Stop serving and free the port.

        The server's thread looks for a shutdown between polls of its socket, 0.5 s apart
        (prometheus_client starts it with `serve_forever`'s default): a connection wakes it
        at once, which took ~0.4 s off every stop of photond.
        """
        host, port = str(self.server.server_address[0]), self.server.server_address[1]
        stopping = threading.Thread(target=self.server.shutdown, name="metrics-stop")
        stopping.start()
        while stopping.is_alive():
            with contextlib.suppress(OSError):
                socket.create_connection((host, port), timeout=0.1).close()
            stopping.join(POKE_INTERVAL_S)
        self.server.server_close()


def serve_metrics(listen: str) -> MetricsEndpoint | None:
    """Serve /metrics on `listen` (HOST:PORT, port 0 picks a free one); None when "off".

    Raises:
        OSError: the address cannot be bound (in use, or not an address of this host).
    """
    if listen == METRICS_OFF:
        return None
    from prometheus_client import start_http_server

    host, _, port = listen.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    server, _thread = start_http_server(int(port), addr=host)
    bound_host, bound_port = str(server.server_address[0]), server.server_address[1]
    shown = f"[{bound_host}]" if ":" in bound_host else bound_host
    endpoint = MetricsEndpoint(server, f"{shown}:{bound_port}")
    log.info("metrics endpoint", extra={"url": endpoint.url})
    return endpoint
