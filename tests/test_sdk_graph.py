"""TaskGraph: validation names the bad field; proto and JSON round-trips are lossless."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from photon_sdk import GraphError, Task, TaskGraph


def _graph(*tasks: Task) -> TaskGraph:
    return TaskGraph(tasks, name="g")


def _ok(task_id: str = "a", **fields: Any) -> Task:
    return Task(id=task_id, duration_s=fields.pop("duration_s", 1.0), **fields)


def test_graph_builder_returns_the_task_and_validates() -> None:
    g = TaskGraph(name="demo")
    a = g.add_task("a", duration_s=0.5, heater_power_mw={"h00": 12.0}, lanes=["wl0"])
    g.add_task("b", duration_s=0.0, depends_on=["a"], zone_power_mw={"z0": 40.0})
    assert a == Task("a", 0.5, heater_power_mw={"h00": 12.0}, allowed_lanes=("wl0",))
    assert len(g) == 2 and "b" in g and g.task("b").depends_on == ("a",)
    g.validate()


@pytest.mark.parametrize(
    ("graph", "field"),
    [
        (_graph(), "tasks"),
        (
            _graph(
                _ok(""),
            ),
            "tasks[0].id",
        ),
        (_graph(_ok("a"), _ok("a")), "tasks[1].id"),
        (_graph(_ok(duration_s=-1.0)), "tasks[0].duration_s"),
        (_graph(_ok(duration_s=math.nan)), "tasks[0].duration_s"),
        (_graph(_ok(duration_s=math.inf)), "tasks[0].duration_s"),
        (_graph(_ok(release_time_s=-0.1)), "tasks[0].release_time_s"),
        (_graph(_ok(deadline_s=math.nan)), "tasks[0].deadline_s"),
        (_graph(_ok(drift_tolerance_rad=-1.0)), "tasks[0].drift_tolerance_rad"),
        (_graph(_ok(heater_power_mw={"h00": -5.0})), 'tasks[0].heater_power_mw["h00"]'),
        (_graph(_ok(zone_power_mw={"z0": math.inf})), 'tasks[0].zone_power_mw["z0"]'),
        (_graph(_ok(priority=2**31)), "tasks[0].priority"),
        (_graph(_ok(allowed_lanes=("",))), "tasks[0].allowed_lanes[0]"),
        (_graph(_ok("a"), _ok("b", depends_on=("a", "x"))), "tasks[1].depends_on[1]"),
        (_graph(_ok("a", depends_on=("a",))), "tasks[0].depends_on[0]"),
    ],
)
def test_validate_names_the_bad_field(graph: TaskGraph, field: str) -> None:
    with pytest.raises(GraphError) as caught:
        graph.validate()
    assert caught.value.field == field
    assert isinstance(caught.value, ValueError)


def test_validate_names_a_task_on_the_cycle() -> None:
    g = TaskGraph()
    g.add_task("root", duration_s=1.0)
    g.add_task("a", duration_s=1.0, depends_on=["root", "c"])
    g.add_task("b", duration_s=1.0, depends_on=["a"])
    g.add_task("c", duration_s=1.0, depends_on=["b"])
    g.add_task("tail", duration_s=1.0, depends_on=["c"])
    with pytest.raises(GraphError) as caught:
        g.validate()
    assert caught.value.field == "tasks[1].depends_on"
    assert "a -> c -> b -> a" in caught.value.message


def test_zero_duration_milestone_is_valid() -> None:
    _graph(_ok(duration_s=0.0)).validate()


def test_proto_round_trip_keeps_every_field() -> None:
    g = TaskGraph(name="full")
    g.add_task(
        "a",
        duration_s=0.5,
        heater_power_mw={"h00": 12.0, "h01": 3.5},
        zone_power_mw={"z0": 40.0},
        lanes=["wl0", "wl1"],
        release_time_s=0.25,
        deadline_s=9.0,
        priority=-3,
        drift_tolerance_rad=0.1,
    )
    g.add_task("b", duration_s=0.0, depends_on=["a"])
    assert TaskGraph.from_proto(g.to_proto(), name="full") == g


def test_json_file_round_trip(tmp_path: Path) -> None:
    g = TaskGraph(name="file")
    g.add_task("a", duration_s=0.5, heater_power_mw={"h00": 12.0}, lanes=["wl0"])
    g.add_task("b", duration_s=1.5, depends_on=["a"], priority=2)
    path = tmp_path / "graph.json"
    path.write_text(g.to_json(), encoding="utf-8")
    assert TaskGraph.load(path) == g
    assert TaskGraph.from_json(str(path)) == g
    assert TaskGraph.from_json(g.to_json()) == g


def test_json_documented_example_loads() -> None:
    text = json.dumps(
        {
            "name": "example",
            "tasks": [
                {
                    "id": "a",
                    "duration_s": 0.5,
                    "heater_power_mw": {"h00": 12.0},
                    "zone_power_mw": {"z0": 40.0},
                    "lanes": ["wl0"],
                    "depends_on": [],
                    "release_time_s": 0,
                    "deadline_s": 0,
                    "priority": 0,
                    "drift_tolerance_rad": 0,
                }
            ],
        }
    )
    g = TaskGraph.from_json(text)
    assert g.name == "example"
    assert g.task("a").zone_power_mw == {"z0": 40.0}


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"tasks": [{"id": "a", "duration_s": 1, "lanez": ["wl0"]}]}, "tasks[0].lanez"),
        ({"tasks": [], "nmae": "x"}, "nmae"),
        ({"tasks": [{"id": "a"}]}, "tasks[0].duration_s"),
        ({"tasks": [{"duration_s": 1}]}, "tasks[0].id"),
        ({"tasks": [{"id": "a", "duration_s": "1"}]}, "tasks[0].duration_s"),
        ({"tasks": [{"id": "a", "duration_s": True}]}, "tasks[0].duration_s"),
        ({"tasks": [{"id": "a", "duration_s": 1, "priority": 1.5}]}, "tasks[0].priority"),
        ({"tasks": [{"id": "a", "duration_s": 1, "lanes": "wl0"}]}, "tasks[0].lanes"),
        ({"tasks": [{"id": "a", "duration_s": 1, "depends_on": [1]}]}, "tasks[0].depends_on[0]"),
        (
            {"tasks": [{"id": "a", "duration_s": 1, "heater_power_mw": {"h0": None}}]},
            'tasks[0].heater_power_mw["h0"]',
        ),
        ({"tasks": {"id": "a"}}, "tasks"),
        ({"name": 3, "tasks": []}, "name"),
    ],
)
def test_from_dict_names_the_bad_key(data: dict[str, Any], field: str) -> None:
    with pytest.raises(GraphError) as caught:
        TaskGraph.from_dict(data)
    assert caught.value.field == field


def test_from_json_rejects_malformed_text() -> None:
    with pytest.raises(GraphError, match="not valid JSON"):
        TaskGraph.from_json('{"tasks": [')


_ids = st.text(alphabet="abcdefghij0123456789_-", min_size=1, max_size=8)
_amounts = st.floats(min_value=0.0, max_value=1e6, allow_nan=False, allow_infinity=False)


@st.composite
def _valid_graphs(draw: st.DrawFn) -> TaskGraph:
    """Random DAGs: each task depends only on tasks drawn before it."""
    ids = draw(st.lists(_ids, min_size=1, max_size=12, unique=True))
    g = TaskGraph(name=draw(st.text(max_size=10)))
    for position, task_id in enumerate(ids):
        earlier = ids[:position]
        deps = draw(st.lists(st.sampled_from(earlier), unique=True)) if earlier else []
        g.add_task(
            task_id,
            duration_s=draw(_amounts),
            heater_power_mw=draw(st.dictionaries(_ids, _amounts, max_size=3)),
            zone_power_mw=draw(st.dictionaries(_ids, _amounts, max_size=2)),
            lanes=draw(st.lists(_ids, max_size=2)),
            depends_on=deps,
            release_time_s=draw(_amounts),
            deadline_s=draw(_amounts),
            priority=draw(st.integers(min_value=-(2**31), max_value=2**31 - 1)),
            drift_tolerance_rad=draw(_amounts),
        )
    return g


@given(_valid_graphs())
def test_random_dags_validate_and_round_trip(g: TaskGraph) -> None:
    g.validate()
    assert TaskGraph.from_proto(g.to_proto(), name=g.name) == g
    assert TaskGraph.from_dict(g.to_dict()) == g
    assert TaskGraph.from_json(g.to_json()) == g


@given(_valid_graphs())
def test_random_dags_closed_into_a_ring_report_a_cycle(g: TaskGraph) -> None:
    tasks = list(g.tasks)
    # Chain every task to the one before it and the first to the last: always one cycle.
    ring = [
        Task(t.id, t.duration_s, depends_on=(*t.depends_on, tasks[i - 1].id))
        for i, t in enumerate(tasks)
    ]
    with pytest.raises(GraphError) as caught:
        TaskGraph(ring).validate()
    assert ".depends_on" in caught.value.field
    assert "cycle" in caught.value.message or "depends on itself" in caught.value.message
