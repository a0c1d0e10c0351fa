"""The daemon's thermal model: compact LTI prediction and the metrics read off its traces.

`compact` reduces the plant's RC network to a few slow modes, discretised exactly for the
control period; `network` derives that network from the profile; `zones` splits zone power
over heaters; `metrics` turns a temperature trace into aging, phase drift and gradient figures.
See docs/thermal-model.md.
"""

from photond import kernel_cache as _kernel_cache
from photond.model.compact import DEFAULT_DT_S as DEFAULT_DT_S
from photond.model.compact import DEFAULT_MODES as DEFAULT_MODES
from photond.model.compact import CompactModel as CompactModel
from photond.model.compact import ModelState as ModelState
from photond.model.compact import compact_model as compact_model
from photond.model.metrics import SensorPairs as SensorPairs
from photond.model.metrics import arrhenius_factor as arrhenius_factor
from photond.model.metrics import equivalent_aging_hours as equivalent_aging_hours
from photond.model.metrics import heater_phase_drift_rad as heater_phase_drift_rad
from photond.model.metrics import peak_gradient_c_per_mm as peak_gradient_c_per_mm
from photond.model.metrics import phase_drift_rad as phase_drift_rad
from photond.model.metrics import sensor_pairs as sensor_pairs
from photond.model.network import PlantNetwork as PlantNetwork
from photond.model.network import model_grid as model_grid
from photond.model.network import plant_network as plant_network
from photond.model.zones import zone_to_heater_matrix as zone_to_heater_matrix

# Before any kernel module of the package is imported (`kalman`; nothing above imports one):
# numba's cache must follow the sources (see there).
_kernel_cache.configure()
