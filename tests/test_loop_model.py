"""The one model: the compact model with the room as an input, whole or truncated."""

from __future__ import annotations

import numpy as np
import pytest

from photon_drivers.profile import load_profile
from photond.model import compact_model
from photond.model.loop_model import FORECAST_MODES, loop_model

PROFILE = load_profile()
MODEL = loop_model(PROFILE, 0.01)
POWER = np.linspace(0.0, 25.0, MODEL.heaters)


def _steady_c(model_modes: int, inputs: np.ndarray) -> np.ndarray:
    model = MODEL.truncated(model_modes)
    out, feed = model.limit_readout()
    steady: np.ndarray = model.ambient_c + out @ model.steady_modes(inputs) + feed @ inputs
    return steady


def test_heaters_alone_it_is_the_compact_model() -> None:
    compact = compact_model(PROFILE, 0.01)
    inputs = np.append(POWER, 0.0)
    np.testing.assert_allclose(
        _steady_c(MODEL.modes, inputs), compact.steady_state_c(POWER, "limits"), atol=1e-9
    )


@pytest.mark.parametrize("modes", [1, FORECAST_MODES, 16])
def test_a_room_offset_raises_every_point_by_itself_at_steady_state(modes: int) -> None:
    rise = _steady_c(modes, np.append(np.zeros(MODEL.heaters), 5.0)) - MODEL.ambient_c
    np.testing.assert_allclose(rise, 5.0, atol=1e-9)


def test_truncation_keeps_the_steady_state_and_the_time_constants() -> None:
    inputs = np.append(POWER, 2.0)
    np.testing.assert_allclose(_steady_c(FORECAST_MODES, inputs), _steady_c(16, inputs), atol=1e-9)
    cut = MODEL.truncated(FORECAST_MODES)
    np.testing.assert_allclose(cut.time_constants_s, MODEL.time_constants_s[:FORECAST_MODES])


def test_the_limit_pairs_index_the_sensors_among_the_limit_points() -> None:
    out, _ = MODEL.limit_readout()
    assert out.shape[0] == MODEL.heaters + len(PROFILE.sensors)
    assert MODEL.limit_pairs.first.min() >= MODEL.heaters
    assert MODEL.limit_pairs.second.max() < out.shape[0]


def test_a_period_that_is_not_positive_is_refused() -> None:
    with pytest.raises(ValueError, match="dt_s"):
        loop_model(PROFILE, -0.01)
