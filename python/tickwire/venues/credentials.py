"""API credentials for venues' private channels: read from the environment or a config file,
never written in code, and never shown — not in a repr, a log line or an error message.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

__all__ = ["Credentials", "CredentialsError"]


class CredentialsError(ValueError):
    """Credentials that are missing or malformed; the message names the source, never a value."""


class Credentials:
    """An API key and its secret (and a passphrase where the venue wants one).

    Make them with :meth:`from_env` or :meth:`from_file`. ``repr``, ``str`` and equality never
    reveal the secret; ``key`` is shown only by its last four characters.
    """

    __slots__ = ("_key", "_passphrase", "_secret", "source")

    def __init__(self, key: str, secret: str, passphrase: str | None = None, *, source: str = "code") -> None:
        if not key or not secret:
            raise CredentialsError(f"credentials from {source}: the key and the secret must both be non-empty")
        self._key = key
        self._secret = secret
        self._passphrase = passphrase
        #: Where they came from (``"env TICKWIRE_GATEIO_*"``, a file path): for messages.
        self.source = source

    @property
    def key(self) -> str:
        """The API key (sent to the venue in the clear by most venues)."""
        return self._key

    def secret_bytes(self) -> bytes:
        """The secret, for signing; keep it out of anything that is printed or logged."""
        return self._secret.encode()

    @property
    def passphrase(self) -> str | None:
        """The passphrase, where the venue has one."""
        return self._passphrase

    @classmethod
    def from_env(cls, venue: str, *, prefix: str = "TICKWIRE") -> Credentials:
        """``{prefix}_{VENUE}_API_KEY``, ``…_API_SECRET`` and optionally ``…_API_PASSPHRASE``
        (``TICKWIRE_GATEIO_API_KEY`` …).

        Raises:
            CredentialsError: A variable is missing or empty (named in the message).
        """
        stem = f"{prefix}_{venue.upper().replace('-', '_')}_API"
        key, secret = os.environ.get(f"{stem}_KEY", ""), os.environ.get(f"{stem}_SECRET", "")
        missing = [name for name, value in ((f"{stem}_KEY", key), (f"{stem}_SECRET", secret)) if not value]
        if missing:
            raise CredentialsError(f"no {venue} credentials in the environment: {', '.join(missing)} not set")
        return cls(key, secret, os.environ.get(f"{stem}_PASSPHRASE") or None, source=f"env {stem}_*")

    @classmethod
    def from_file(cls, venue: str, path: str | Path | None = None) -> Credentials:
        """The ``[venue]`` table of a TOML file (``api_key``, ``api_secret``, optional
        ``api_passphrase``); the file defaults to ``$TICKWIRE_CREDENTIALS`` or
        ``~/.config/tickwire/credentials.toml``. A file others may read is refused.

        Raises:
            CredentialsError: No such file, a file readable by group or others, no such table,
                or a missing field.
        """
        chosen = Path(path or os.environ.get("TICKWIRE_CREDENTIALS") or Path.home() / ".config/tickwire/credentials.toml")
        try:
            mode = chosen.stat().st_mode
            if mode & 0o077:
                raise CredentialsError(f"{chosen}: readable by others (mode {mode & 0o777:o}); chmod 600 it")
            tables = tomllib.loads(chosen.read_text())
        except OSError as error:
            raise CredentialsError(f"cannot read credentials file {chosen}: {error.strerror}") from None
        except tomllib.TOMLDecodeError as error:
            raise CredentialsError(f"{chosen} is not valid TOML: {error}") from None
        table = tables.get(venue)
        if not isinstance(table, dict):
            raise CredentialsError(f"{chosen} has no [{venue}] table")
        key, secret = table.get("api_key"), table.get("api_secret")
        if not isinstance(key, str) or not isinstance(secret, str):
            raise CredentialsError(f"{chosen} [{venue}]: api_key and api_secret must be strings")
        passphrase = table.get("api_passphrase")
        return cls(key, secret, passphrase if isinstance(passphrase, str) else None, source=str(chosen))

    def __repr__(self) -> str:
        return f"<Credentials key=…{self._key[-4:]} from {self.source}>"

    __str__ = __repr__

    def __reduce__(self) -> str | tuple[object, ...]:
        raise TypeError("credentials are not picklable: they would leave the process in the clear")
