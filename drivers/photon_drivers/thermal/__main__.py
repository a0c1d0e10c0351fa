"""`python -m photon_drivers.thermal`: run a HotSpot case with the photond thermal plant."""

import sys

from ._cli import main

sys.exit(main())
