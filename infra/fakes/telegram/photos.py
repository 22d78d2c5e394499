"""sendPhoto's ``photo`` as the Bot API reads it: an HTTP URL Telegram downloads, or a file_id.

Nothing is downloaded. A URL is taken when Telegram could fetch it: http or https, with a
host on the internet (not ``localhost``, a name without a dot or a private address: those
are "wrong file identifier/HTTP URL specified"). A host under ``.invalid`` (the reserved
TLD) stands for a link that does not answer with a picture: "failed to get HTTP URL
content". A file_id is taken when it is shaped like Telegram's (base64url, 20-255
characters); which files exist is not modelled. The answer's ``photo`` lists two sizes
whose file_id is made from the photo, so the same URL gives the same file_id, as it does
when Telegram caches a URL.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import re
from typing import Any
from urllib.parse import urlsplit

from infra.fakes.telegram.behaviour import ApiError

MAX_CAPTION_LENGTH = 1024  # visible characters after entity parsing, in UTF-16 code units
_FILE_ID = re.compile(r"[A-Za-z0-9_-]+")
_SIZES = ((90, 60), (1280, 853))  # (width, height) of the sizes an answer lists


def photo_sizes(photo: str) -> list[dict[str, Any]]:
    """The answer's ``photo`` (PhotoSize objects, smallest first); ApiError as Telegram words it."""
    if not photo:
        raise ApiError(400, "Bad Request: there is no photo in the request")
    if "://" in photo or photo.lower().startswith(("http:", "https:")):
        _check_url(photo)
    else:
        _check_file_id(photo)
    digest = hashlib.sha256(photo.encode("utf-8", "surrogatepass")).digest()
    return [
        {
            "file_id": "AgAC" + _b64(bytes([index]) + digest[:45]),
            "file_unique_id": "AQAD" + _b64(digest[:9] + bytes([index])),
            "file_size": width * height // 10,
            "width": width,
            "height": height,
        }
        for index, (width, height) in enumerate(_SIZES)
    ]


def _check_url(url: str) -> None:
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").rstrip(".").lower()
    except ValueError:
        host, parts = "", None
    if parts is None or parts.scheme.lower() not in ("http", "https") or not _reachable(host):
        raise ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")
    if host.endswith(".invalid"):
        raise ApiError(400, "Bad Request: failed to get HTTP URL content")


def _reachable(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_global
    except ValueError:
        return "." in host and not host.endswith(".localhost")


def _check_file_id(file_id: str) -> None:
    if not _FILE_ID.fullmatch(file_id):
        raise _wrong_file_id("Wrong character in the string")
    if len(file_id) % 4 == 1:
        raise _wrong_file_id("Wrong string length")
    if len(file_id) < 20 or len(file_id) > 255:
        raise _wrong_file_id("Can't unserialize it. Wrong last symbol")


def _wrong_file_id(why: str) -> ApiError:
    return ApiError(400, f"Bad Request: wrong remote file identifier specified: {why}")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
