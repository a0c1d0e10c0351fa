"""Metrics: what photond measures, exported through the OpenTelemetry metrics SDK.

`instruments` holds the instruments recorded where events happen (a re-plan, a plan, a job's
end, an RPC); `observed` reads, when a reader collects, the state the device loops already
publish (temperatures, the estimate, breaker and interlock, queues, serial link counters);
`rpc` counts every RPC by method and status; `export` installs the meter provider with its
readers (Prometheus endpoint, OTLP). Names and units follow Prometheus' conventions; the list
is in docs/metrics.md.

This package imports nothing of its own: `instruments` is imported by the loop, `observed`
imports the loop's and the RPC side's types, and importing both from here would tie them in a
circle.
"""
