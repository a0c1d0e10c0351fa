"""The planning core: one plan type, the thermal-aware optimiser, and the loop's re-planner.

Modules, one job each: `plan` (the `Plan` every planner returns), `graph` (a checked task
graph), `instance` (the problem form), `psplib` / `stg` (benchmark readers), `seed` (LFT
priority lists), `superposition` (tasks folded into the model, closed-form advance: what the
optimiser's and the loop's predictions are built on), `thermal_tables` / `thermal_check` (the
optimiser's thermal check), `decoder` and `parallel_sgs` (schedule generation), `search`
(parallel tempering, numba prange replicas), `bounds` (critical path, work per resource, energy
balance), `optimize` (levels and budgets), `validator` (independent re-check), `device_plan`
(task graph → plan on a device), `job_tables` / `retime` / `replan` (the running job's
remainder: forecast, re-timed and searched). See docs/optimizer.md.

Import from the modules: this package re-exports nothing, so that the light ones (`plan`) do
not pull in the numba kernels.
"""

# Before any kernel module of the package is imported: numba's cache must follow the sources
# (see there).
from photond import kernel_cache as _kernel_cache

_kernel_cache.configure()
