"""``python -m job_scheduler`` is ``jobsctl``."""

import sys

from job_scheduler.cli import main

sys.exit(main())
