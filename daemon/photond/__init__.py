"""photond: the control daemon beside a silicon-photonic accelerator.

It owns the device drivers and the live temperature telemetry, plans task graphs that compile
hosts submit over gRPC, runs them on the device, and journals every job.
"""

__version__ = "0.1.0"

# First of all: the daemon's process starts itself again on glibc's malloc (see there), before
# numba and the rest are imported twice.
from photond import allocator as _allocator

_allocator.use_daemon_allocator()

# Before any kernel module is imported: numba's cache must follow the sources (see there).
from photond import kernel_cache as _kernel_cache  # noqa: E402 (after the exec above)

_kernel_cache.configure()
