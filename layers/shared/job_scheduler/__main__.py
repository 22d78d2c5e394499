"""``python -m job_scheduler`` is ``jobsctl``."""

import sys

from .cli import main

sys.exit(main())
