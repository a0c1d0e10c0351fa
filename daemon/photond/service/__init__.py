"""photond as a service of the host's service manager (systemd).

`notify` speaks sd_notify (READY, STATUS, WATCHDOG, RELOADING, STOPPING); `supervisor` feeds the
watchdog only while every device loop's heartbeat is fresh and reports a STATUS line; `reload`
applies a re-read configuration on SIGHUP; `check` is `photond check-config`. Above `rpc` in the
layers: it watches the daemon `rpc.server` assembles, and the daemon knows nothing of it.
"""
