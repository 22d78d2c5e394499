"""``python -m infra.fakes.telegram [--host H] [--port P]``: serve until Ctrl-C or SIGTERM."""

from __future__ import annotations

import sys

from infra.fakes.telegram.server import main

sys.exit(main())
