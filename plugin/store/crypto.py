"""Encryption of access tokens at rest (Fernet, with MultiFernet for key rotation)."""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from plugin.errors import ConfigurationError


def _fernet_for(secret: str) -> Fernet:
    """A Fernet for one configured key: a Fernet key as is, any other string derived via SHA-256."""
    try:
        return Fernet(secret.encode())
    except ValueError:
        # Operators often paste a random passphrase; derive a proper 32-byte key from it.
        derived = base64.urlsafe_b64encode(hashlib.sha256(secret.encode()).digest())
        return Fernet(derived)


class TokenCipher:
    """Encrypts with the first key of TOKEN_ENCRYPTION_KEY, decrypts with any of them."""

    def __init__(self, keys_setting: str):
        keys = [key.strip() for key in keys_setting.split(",") if key.strip()]
        if not keys:
            raise ConfigurationError("TOKEN_ENCRYPTION_KEY is empty")
        self._cipher = MultiFernet([_fernet_for(key) for key in keys])

    def encrypt(self, plaintext: str) -> str:
        """Encrypt a token for storage."""
        return self._cipher.encrypt(plaintext.encode()).decode()

    def decrypt(self, ciphertext: str) -> str:
        """Decrypt a stored token; a token made with an unknown key is a configuration error."""
        try:
            return self._cipher.decrypt(ciphertext.encode()).decode()
        except InvalidToken as exc:
            raise ConfigurationError(
                "a stored token cannot be decrypted with TOKEN_ENCRYPTION_KEY (was the key changed?)"
            ) from exc

    def rotate(self, ciphertext: str) -> str:
        """Re-encrypt a stored token with the current (first) key."""
        try:
            return self._cipher.rotate(ciphertext.encode()).decode()
        except InvalidToken as exc:
            raise ConfigurationError("a stored token cannot be decrypted for rotation") from exc


def generate_key() -> str:
    """A fresh Fernet key, for TOKEN_ENCRYPTION_KEY."""
    return Fernet.generate_key().decode()
