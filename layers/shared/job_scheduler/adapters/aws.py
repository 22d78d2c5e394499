"""boto3 clients pointed at AWS, LocalStack or moto's server by one setting.

``AWS_ENDPOINT_URL`` (Settings.aws_endpoint_url) switches every client at once; nothing else
in the code knows which of the three it talks to. botocore errors are translated to
``AwsError`` by ``aws_call`` so callers handle one error type.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from job_scheduler.errors import AwsError

_CLIENT_CONFIG = Config(
    connect_timeout=3, read_timeout=10, retries={"mode": "standard", "max_attempts": 5}
)


@lru_cache(maxsize=32)
def _client(service: str, region: str, endpoint_url: str | None) -> Any:
    return boto3.session.Session().client(
        service, region_name=region, endpoint_url=endpoint_url, config=_CLIENT_CONFIG
    )


def client(settings: Any, service: str) -> Any:
    """A cached client for ``service`` (reused across warm invocations)."""
    return _client(service, settings.aws_region, settings.aws_endpoint_url)


@contextmanager
def aws_call(action: str) -> Iterator[None]:
    """Translate botocore failures into AwsError naming what was being done."""
    try:
        yield
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise AwsError(f"{action} failed: {error.get('Code')}: {error.get('Message')}") from exc
    except BotoCoreError as exc:
        raise AwsError(f"{action} failed: {exc}") from exc


def read_secret(settings: Any, arn: str, variable: str) -> str:
    """A Secrets Manager secret's string; the error names the variable, never the value."""
    with aws_call(f"reading the secret named by {variable}"):
        return client(settings, "secretsmanager").get_secret_value(SecretId=arn)["SecretString"]
