"""The device loop: one thread per device that samples, estimates, dispatches and protects.

`runtime` owns time and the driver; `closed_loop` estimates (`observer`), forecasts and
re-plans; `interlock` parks the device above its hard limit; `telemetry` fans frames out to
subscribers. Nothing here waits on the RPC side.
"""
