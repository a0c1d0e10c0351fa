"""`python -m photon_drivers.plant.hotspot`: run a HotSpot case with the photond thermal plant."""

import sys

from photon_drivers.plant.hotspot._cli import main

sys.exit(main())
