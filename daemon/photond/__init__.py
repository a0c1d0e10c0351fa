"""photond: the control daemon beside a silicon-photonic accelerator.

It owns the device drivers and the live temperature telemetry, plans task graphs that compile
hosts submit over gRPC, runs them on the device, and journals every job.
"""

__version__ = "0.1.0"

# numba, and its cache's configuration (`kernel_cache`), come with the packages that hold
# kernels (`planning`, `model`), not with this one: a process that reads photond's memory
# figures (benchmarks/startup.py) or its config imports no LLVM.
