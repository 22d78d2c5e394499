"""Loading the functions' handlers in-process, and a Lambda context object for them."""

from __future__ import annotations

import importlib.util
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class LocalContext:
    """The attributes of Lambda's context object that the handlers and Powertools read."""

    function_name: str
    timeout_seconds: int = 60
    memory_limit_in_mb: int = 512
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = "/local"
    log_stream_name: str = "local"
    started: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:000000000000:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        elapsed = time.monotonic() - self.started
        return max(0, int((self.timeout_seconds - elapsed) * 1000))


def load_function(code_uri: str, handler: str, settings: Any) -> Callable[[dict, Any], Any]:
    """The function's handler, its objects built from ``settings`` (``entry.configure``):
    what a cold start in Lambda builds from the function's environment."""
    module = _module(code_uri, handler.rsplit(".", 1)[0])
    with _configuring:
        if _configured.get(code_uri) is not settings:  # one cold start for its pollers
            module.entry.configure(settings)
            _configured[code_uri] = settings
    return getattr(module, handler.rsplit(".", 1)[1])


_configuring = threading.Lock()
_configured: dict[str, Any] = {}


@cache
def _module(code_uri: str, module_name: str) -> Any:
    """Import ``<CodeUri>/<module>.py`` once, under a unique name."""
    path = ROOT / code_uri / f"{module_name}.py"
    unique = f"local_lambda_{path.parent.name}_{module_name}"
    spec = importlib.util.spec_from_file_location(unique, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {module_name} from {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
