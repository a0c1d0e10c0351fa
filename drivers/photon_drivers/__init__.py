"""Device drivers for photond: the driver contract, the simulated chip, the registry.

Depends on nothing else of the project, so that firmware tools and the emulator can use it
alone.
"""

from photon_drivers.clock import Clock as Clock
from photon_drivers.clock import ManualClock as ManualClock
from photon_drivers.clock import ScaledClock as ScaledClock
from photon_drivers.interface import Driver as Driver
from photon_drivers.interface import DriverError as DriverError
from photon_drivers.interface import SensorSample as SensorSample
from photon_drivers.profile import DeviceProfile as DeviceProfile
from photon_drivers.profile import ProfileError as ProfileError
from photon_drivers.profile import load_profile as load_profile

__all__ = [
    "Clock",
    "DeviceProfile",
    "Driver",
    "DriverError",
    "ManualClock",
    "ProfileError",
    "ScaledClock",
    "SensorSample",
    "load_profile",
]
