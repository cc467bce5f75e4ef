"""Secrets: password hashing (scrypt) and the random tokens, session ids and client secrets.

Passwords are low-entropy and chosen by people, so they are stretched with scrypt, a memory-hard KDF
in the standard library (`hashlib.scrypt`, RFC 7914): no new dependency, and the OWASP-recommended
parameters (N=2**14… here 2**15, r=8, p=1: 32 MiB and ~0.1 s per attempt) make offline guessing
expensive on GPUs too. Argon2id would be as good; scrypt needs no C extension to install.

Tokens, session ids and client secrets are 256 random bits: guessing them is hopeless, so a fast
SHA-256 digest is the right way to store them (a KDF would only make every API request slow and
the token endpoint a denial-of-service lever). The digest is also the lookup key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from typing import Final

__all__ = [
    "ACCESS_TOKEN_PREFIX",
    "CLIENT_SECRET_PREFIX",
    "PERSONAL_TOKEN_PREFIX",
    "digest",
    "hash_password",
    "new_secret",
    "verify_password",
]

PERSONAL_TOKEN_PREFIX: Final = "tlp_"
ACCESS_TOKEN_PREFIX: Final = "tla_"
CLIENT_SECRET_PREFIX: Final = "tls_"

_SCRYPT_N: Final = 2**15
_SCRYPT_R: Final = 8
_SCRYPT_P: Final = 1
_MAXMEM: Final = 64 * 1024 * 1024
_KEY_BYTES: Final = 32


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_password(password: str) -> str:
    """Return `scrypt$N$r$p$salt$key` for a password (a fresh random salt each time)."""
    salt = secrets.token_bytes(16)
    key = hashlib.scrypt(
        password.encode(), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, maxmem=_MAXMEM, dklen=_KEY_BYTES
    )
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${_b64(salt)}${_b64(key)}"


#: Verified when the user does not exist, so that a wrong username costs as long as a wrong password.
_DUMMY_HASH: Final = "scrypt$32768$8$1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"


def verify_password(password: str, stored: str | None) -> bool:
    """Return whether `password` matches a `hash_password` result (False for None or a malformed hash)."""
    try:
        scheme, n, r, p, salt, key = (stored or _DUMMY_HASH).split("$")
        if scheme != "scrypt":
            return False
        expected = _unb64(key)
        actual = hashlib.scrypt(
            password.encode(), salt=_unb64(salt), n=int(n), r=int(r), p=int(p), maxmem=_MAXMEM, dklen=len(expected)
        )
    except (ValueError, TypeError):
        return False
    return stored is not None and hmac.compare_digest(actual, expected)


def new_secret(prefix: str = "") -> str:
    """Return a fresh 256-bit random secret, URL-safe, after a recognisable prefix (`tlp_…`)."""
    return prefix + secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    """Return the SHA-256 hex digest under which a token, session id or client secret is stored."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()
