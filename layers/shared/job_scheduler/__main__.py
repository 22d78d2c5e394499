"""``python -m job_scheduler`` is ``jobsctl``."""

import sys

from job_scheduler.cli.main import main

sys.exit(main())
