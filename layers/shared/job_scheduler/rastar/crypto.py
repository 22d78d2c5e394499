"""Secrets at rest: users' Rastar tokens, encrypted with keys from configuration.

Fernet (``cryptography``) gives authenticated encryption with the key's version stamped in
each ciphertext. ``RASTAR_ENCRYPTION_KEYS`` holds one or more keys, newest first:
everything is encrypted with the first and can be decrypted with any, so rotating is

1. put a new key in front of the list and deploy (old ciphertexts still read);
2. ``jobsctl rastar rotate-keys`` re-encrypts every stored token with the new key;
3. drop the old key from the list.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from job_scheduler.config import Settings
from job_scheduler.errors import ConfigError, CredentialUnreadable


class SecretBox:
    """Encrypts with the newest key, decrypts with any of them."""

    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise ConfigError(
                "RASTAR_ENCRYPTION_KEYS is not set: it needs at least one key"
                " (make one with: jobsctl rastar new-key)"
            )
        fernets = []
        for position, key in enumerate(keys, start=1):
            try:
                fernets.append(Fernet(key.strip().encode()))
            except ValueError:
                raise ConfigError(
                    f"RASTAR_ENCRYPTION_KEYS: key {position} is not a Fernet key (32 bytes,"
                    " url-safe base64); make one with: jobsctl rastar new-key"
                ) from None
        self._fernet = MultiFernet(fernets)

    @classmethod
    def from_settings(cls, settings: Settings) -> SecretBox:
        raw = settings.rastar_encryption_keys or ""
        return cls([key for key in raw.split(",") if key.strip()])

    @staticmethod
    def new_key() -> str:
        return Fernet.generate_key().decode()

    def encrypt(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode()).decode()

    def decrypt(self, sealed: str) -> str:
        return self._opened(self._fernet.decrypt, sealed)

    def rotate(self, sealed: str) -> str:
        """The same secret, encrypted with the newest key."""
        return self._opened(self._fernet.rotate, sealed)

    @staticmethod
    def _opened(operation: Callable[[bytes], bytes], sealed: str) -> str:
        try:
            return operation(sealed.encode()).decode()
        except InvalidToken:
            raise CredentialUnreadable(
                "a stored Rastar token cannot be decrypted with any configured key"
            ) from None
