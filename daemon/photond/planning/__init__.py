"""The planning core: one plan type, the thermal-aware optimiser, and the loop's re-planner.

Modules, one job each: `plan` (the `Plan` every planner returns), `instance` (the problem
form), `psplib` / `stg` (benchmark readers), `seed` (LFT priority lists), `decoder` (serial
schedule generation with the thermal check by superposition), `search` (parallel tempering,
numba prange replicas), `bounds` (critical path, work per resource, energy balance), `optimize`
(levels and budgets), `validator` (independent re-check), `device_plan` (task graph → plan on a
device), `replan` (the running job's remainder, re-timed and searched). See docs/optimizer.md.

Import from the modules: this package re-exports nothing, so that the light ones (`plan`) do
not pull in the numba kernels.
"""
