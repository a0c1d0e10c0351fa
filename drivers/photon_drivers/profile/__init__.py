"""Device profiles: what a chip is made of (`spec`), loaded from TOML and checked (`reader`)."""

from photon_drivers.profile.reader import default_profile_path as default_profile_path
from photon_drivers.profile.reader import load_profile as load_profile
from photon_drivers.profile.reader import parse_profile as parse_profile
from photon_drivers.profile.spec import DeviceProfile as DeviceProfile
from photon_drivers.profile.spec import HeaterSpec as HeaterSpec
from photon_drivers.profile.spec import LaneSpec as LaneSpec
from photon_drivers.profile.spec import LayerSpec as LayerSpec
from photon_drivers.profile.spec import LimitsSpec as LimitsSpec
from photon_drivers.profile.spec import PackageSpec as PackageSpec
from photon_drivers.profile.spec import ProfileError as ProfileError
from photon_drivers.profile.spec import SensorSpec as SensorSpec
from photon_drivers.profile.spec import ThermalSource as ThermalSource
from photon_drivers.profile.spec import ZoneSpec as ZoneSpec
