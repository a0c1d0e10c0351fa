"""`python -m photond`."""

import sys

from photond.entry import main

sys.exit(main())
