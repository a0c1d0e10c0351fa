"""The daemon's thermal model: compact LTI prediction, metrics, and batched numba kernels.

`compact` reduces the plant's RC network to a few slow modes, discretised exactly for the
control period; `kernels` scores many candidate schedules with it at once; `metrics` turns a
temperature trace into aging, phase drift and gradient figures. See docs/thermal-model.md.
"""

from .compact import DEFAULT_DT_S as DEFAULT_DT_S
from .compact import DEFAULT_MODES as DEFAULT_MODES
from .compact import CompactModel as CompactModel
from .compact import ModelState as ModelState
from .kernels import CandidateScores as CandidateScores
from .kernels import KernelProblem as KernelProblem
from .kernels import evaluate_candidates as evaluate_candidates
from .metrics import SensorPairs as SensorPairs
from .metrics import arrhenius_factor as arrhenius_factor
from .metrics import equivalent_aging_hours as equivalent_aging_hours
from .metrics import heater_phase_drift_rad as heater_phase_drift_rad
from .metrics import peak_gradient_c_per_mm as peak_gradient_c_per_mm
from .metrics import phase_drift_rad as phase_drift_rad
from .metrics import sensor_pairs as sensor_pairs
from .network import PlantNetwork as PlantNetwork
from .network import model_grid as model_grid
from .network import plant_network as plant_network
from .zones import zone_to_heater_matrix as zone_to_heater_matrix
