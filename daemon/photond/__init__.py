"""photond: the control daemon beside a silicon-photonic accelerator.

It owns the device drivers and the live temperature telemetry, plans task graphs that compile
hosts submit over gRPC, runs them on the device, and journals every job.
"""

__version__ = "0.1.0"

# Before any kernel module is imported: numba's cache must follow the sources (see there).
from photond import kernel_cache as _kernel_cache

_kernel_cache.configure()
