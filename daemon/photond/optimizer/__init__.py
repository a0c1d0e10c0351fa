"""The thermal-aware optimiser: activity lists decoded under heat, searched in parallel.

Modules, one job each: `instance` (the problem form), `psplib` / `stg` (benchmark readers),
`seed` (LFT priority lists), `decoder` (serial schedule generation with the thermal check by
superposition), `search` (parallel tempering, numba prange replicas), `bounds` (critical path,
work per resource, energy balance), `optimize` (levels and budgets), `validator` (independent
re-check), `baselines` (throttled list scheduling), `daemon_plan` (task graph ↔ plan).
See docs/optimizer.md.
"""

from .bounds import critical_path_ticks as critical_path_ticks
from .bounds import lower_bound_ticks as lower_bound_ticks
from .bounds import resource_bound_ticks as resource_bound_ticks
from .bounds import thermal_bound_s as thermal_bound_s
from .decoder import decode as decode
from .instance import Instance as Instance
from .instance import ThermalTables as ThermalTables
from .instance import build_instance as build_instance
from .optimize import BUDGETS as BUDGETS
from .optimize import Level as Level
from .optimize import Solution as Solution
from .optimize import Stats as Stats
from .optimize import ThermallyInfeasible as ThermallyInfeasible
from .optimize import optimize as optimize
from .optimize import warm_up as warm_up
from .psplib import read_psplib as read_psplib
from .psplib import read_solution_table as read_solution_table
from .search import SEARCH_NAME as SEARCH_NAME
from .stg import read_stg as read_stg
from .stg import read_stg_optima as read_stg_optima
from .validator import validate_plan as validate_plan
from .validator import validate_schedule as validate_schedule
