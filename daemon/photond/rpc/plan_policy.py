"""How hard an RPC's plan is made and checked: its optimisation and validation levels.

SubmitJob and PlanJob plan through `check_plan`; it maps the request's levels onto the planner
and turns a graph that cannot run within the limits into FAILED_PRECONDITION naming the task.
"""

from __future__ import annotations

from photon_drivers.profile import DeviceProfile
from photond.model import DEFAULT_DT_S
from photond.planning.device_plan import device_thermal, plan_graph
from photond.planning.graph import CheckedGraph
from photond.planning.optimize import Level, ThermallyInfeasible
from photond.planning.plan import DEFAULT_MARGIN_C, Plan
from photond.planning.validator import validate_plan
from photond.rpc.status import failed_precondition

# photon.v1.ValidationLevel numbers.
VALIDATION_BASIC = 1
VALIDATION_PARANOID = 3


def check_plan(
    graph: CheckedGraph,
    profile: DeviceProfile,
    optimization_level: int,
    validation_level: int,
    *,
    margin_c: float = DEFAULT_MARGIN_C,
    period_s: float = DEFAULT_DT_S,
) -> Plan:
    """Plan for an RPC and check the plan as hard as the request's ValidationLevel asks.

    Levels are photon.v1 numbers: optimisation 0 (unset) means BALANCED. Validation 1 (BASIC)
    trusts the planner; 0 (unset) and 2 (STRICT) re-read the model's prediction of the plan
    against the limits; 3 (PARANOID) also runs the independent validator. The plan peaks at
    least `margin_c` below max temperature (the daemon passes its closed loop's margin).

    Raises:
        RequestError: FAILED_PRECONDITION when the graph cannot be run within the limits.
        RuntimeError: a check rejected the plan (a planner bug, logged as INTERNAL).
    """
    level = Level(optimization_level) if optimization_level else Level.BALANCED
    try:
        plan = plan_graph(graph, profile, level, margin_c=margin_c, period_s=period_s)
    except ThermallyInfeasible as error:
        index = next((i for i, t in enumerate(graph.tasks) if t.id == error.task), None)
        field = "graph.tasks" if index is None else f"graph.tasks[{index}]"
        raise failed_precondition(
            f"{field}: {error} (planned {margin_c:g} °C below max temperature); lower its "
            "powers, or the closed loop's margin_c / headroom_c",
            field,
        ) from error
    limits = profile.limits
    if validation_level != VALIDATION_BASIC and (
        plan.predicted_peak_temperature_c > limits.max_device_temperature_c + 1e-6
        or plan.predicted_peak_gradient_c_per_mm > limits.max_thermal_gradient_c_per_mm + 1e-6
    ):
        raise RuntimeError(
            f"plan predicted to reach {plan.predicted_peak_temperature_c:.3f} °C, "
            f"{plan.predicted_peak_gradient_c_per_mm:.3f} °C/mm"
        )
    if validation_level == VALIDATION_PARANOID:
        model = device_thermal(profile, period_s).compact
        problems = validate_plan(graph, plan.tasks, profile, model)
        if problems:
            raise RuntimeError("independent validator rejected the plan: " + "; ".join(problems))
    return plan
