"""Secrets of the API: the signing key, bearer tokens, session cookies and CSRF tokens."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from services.settings import Settings

TOKEN_PREFIX = "ews"


def signing_key(settings: Settings) -> bytes:
    """`EWS_SECRET_KEY`, or a random key made once and kept in DATA_DIR/secret_key (mode 600)."""
    configured = settings.secret_key.get_secret_value()
    if configured:
        return configured.encode()
    path: Path = settings.data_dir / "secret_key"
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="ascii").strip().encode()
    with os.fdopen(descriptor, "w", encoding="ascii") as handle:
        key = secrets.token_urlsafe(48)
        handle.write(key + "\n")
    return key.encode()


def sha256_hex(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class NewToken:
    """A bearer token as made: `token` is shown once; only `salt` and `secret_hash` are kept."""

    token_id: str
    token: str
    salt: str
    secret_hash: str


def new_token() -> NewToken:
    """`ews_<id>_<secret>`: the id finds the stored hash, the 256-bit secret is checked against it.

    A random 256-bit secret cannot be guessed or brute-forced from its hash, so a salted SHA-256
    suffices (a slow hash is for low-entropy passwords).
    """
    token_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    salt = secrets.token_hex(16)
    return NewToken(token_id, f"{TOKEN_PREFIX}_{token_id}_{secret}", salt, sha256_hex(salt, secret))


def parse_token(token: str) -> tuple[str, str] | None:
    """(token_id, secret) of a well-formed token, else None."""
    parts = token.strip().split("_", 2)
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


def same(given: str, expected: str) -> bool:
    """Constant-time equality of two strings, whatever characters the caller sent.

    `hmac.compare_digest` refuses str with non-ASCII characters (a TypeError, so a 500 for a
    cookie or header of the caller's choosing); compared as UTF-8 bytes, they are just unequal.
    """
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"),
                               expected.encode("utf-8", "surrogatepass"))


def token_matches(secret: str, salt: str, secret_hash: str) -> bool:
    return same(sha256_hex(salt, secret), secret_hash)


def _signature(key: bytes, value: str) -> str:
    mac = hmac.new(key, value.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def sign(key: bytes, value: str) -> str:
    """`value.signature` (HMAC-SHA256 with the signing key)."""
    return f"{value}.{_signature(key, value)}"


def unsign(key: bytes, signed: str) -> str | None:
    """The value of a signed string whose signature is good, else None."""
    value, _, signature = signed.rpartition(".")
    if not value or not same(signature, _signature(key, value)):
        return None
    return value


def random_token(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)
