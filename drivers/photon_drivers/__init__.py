"""Device drivers for photond: the driver contract, the simulated chip, the registry.

Depends on nothing else of the project, so that firmware tools and the emulator can use it
alone.
"""

from .clock import Clock as Clock
from .clock import ManualClock as ManualClock
from .clock import ScaledClock as ScaledClock
from .interface import Driver as Driver
from .interface import DriverError as DriverError
from .interface import SensorSample as SensorSample
from .profile import DeviceProfile as DeviceProfile
from .profile import ProfileError as ProfileError
from .profile import load_profile as load_profile

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
