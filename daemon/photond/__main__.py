"""`python -m photond`."""

import sys

from photond.cli import main

sys.exit(main())
