"""The encrypted, locked, atomically written login-state file (``oauth_settings_location``).

Atlassian Cloud rotates OAuth 2.0 refresh tokens on every use: a refreshed token that is
not written down is a pipeline that needs a human with a browser. Every login scheme that
keeps state between runs (OAuth 2.0 tokens, OAuth 1.0 access tokens, Okta device tokens,
SSO sessions) keeps it in this one file, each in its own section.

API::

    from tap_atlassian.settings_file import SettingsFile, SettingsFileError

    sf = SettingsFile(path, passphrase)          # passphrase: see resolve_passphrase()
    state = sf.load()                            # read-only snapshot, {} when there is no file
    with sf.transaction() as state:              # exclusive lock held for the whole block
        tokens = state.get("oauth2", {})         # read ...
        tokens = refresh(tokens)                 # ... talk to the server ...
        state["oauth2"] = tokens                 # ... modify; written on normal exit
    # an exception inside the block leaves the file exactly as it was

Sections (top-level keys of ``state``, each a JSON object): ``"oauth2"``,
``"oauth1:jira"``, ``"oauth1:confluence"``, ``"okta:jira"``, ``"okta:confluence"``,
``"crowd:jira"``, ... The value must be JSON-serialisable.

Guarantees:

- Authenticated encryption: AES-256-GCM, key from scrypt over the passphrase and a random
  salt stored in the file. The header (format, version, KDF parameters) is bound as
  associated data, so any change to any byte is detected. A wrong passphrase, a tampered or
  truncated file, or an unknown format version raises :class:`SettingsFileError` with a
  message saying what to do; it is never treated as "no tokens" (that would silently start
  a new login and lose the old grant).
- Atomic: each write goes to a temporary file in the same directory (mode 0600), is
  fsynced, renamed over the old file, and the directory is fsynced. A process killed at
  any point leaves either the old file or the new one, never a mix.
- Locked: :meth:`SettingsFile.transaction` holds an exclusive lock (``filelock``: ``flock``
  on Linux and macOS, ``msvcrt`` locking on Windows) on the
  sibling ``<path>.lock`` from before the read to after the write, so two processes
  sharing one file never both spend the same refresh token: the second waits, then reads
  the pair the first one wrote. :meth:`SettingsFile.load` takes no lock (renames are
  atomic, so it always reads a whole file).
- Portable: the file is ASCII JSON; copied to another machine with the same passphrase
  (headless option 2) it decrypts there.

File format, version 1 (one JSON object)::

    {"format": "tap-atlassian-settings", "version": 1,
     "kdf": {"name": "scrypt", "salt": "<b64>", "n": 16384, "r": 8, "p": 1},
     "cipher": "AES-256-GCM", "nonce": "<b64>", "ciphertext": "<b64>"}

The plaintext is the JSON of ``state``. Associated data is the canonical JSON of the
header fields ``format``, ``version``, ``kdf`` and ``cipher``.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import hashlib
import json
import os
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import filelock
import platformdirs
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

if TYPE_CHECKING:
    from collections.abc import Iterator

FORMAT = "tap-atlassian-settings"
VERSION = 1
DEFAULT_FILENAME = "OAuthSettings.txt"
DEFAULT_LOCK_TIMEOUT = 300.0
_KDF_DEFAULTS = {"name": "scrypt", "n": 2**14, "r": 8, "p": 1}
_CIPHER = "AES-256-GCM"
_TMP_SUFFIX = ".tmp"

# Keys derived in this process, keyed by (sha256(passphrase), salt, params): scrypt is
# deliberately slow and a run reads and writes the file several times.
_key_cache: dict[tuple[bytes, bytes, int, int, int], bytes] = {}
_key_cache_lock = threading.Lock()
# Paths whose lock this thread already holds: a nested transaction on the same file would
# otherwise wait for itself until the timeout.
_held = threading.local()


class SettingsFileError(Exception):
    """The settings file cannot be read, decrypted, locked or written.

    The message names the file and says what to do; it never contains a secret.
    """


def default_location() -> Path:
    """``OAuthSettings.txt`` in the user's config directory for tap-atlassian."""
    return Path(platformdirs.user_config_dir("tap-atlassian")) / DEFAULT_FILENAME


def resolve_passphrase(
    passphrase: str | None,
    fallback: str | None,
    fallback_setting: str,
) -> str:
    """The key material: ``oauth_settings_passphrase``, else the scheme's own secret.

    Args:
        passphrase: ``oauth_settings_passphrase`` (may be empty).
        fallback: the scheme's secret the passphrase defaults to (``oauth_client_secret``
            for OAuth 2.0, the private key for OAuth 1.0, ``password`` for Crowd/Okta).
        fallback_setting: the name of that setting, for the error message.

    Raises:
        SettingsFileError: when both are empty.
    """
    if passphrase:
        return passphrase
    if fallback:
        return fallback
    msg = (
        "the settings file needs a key: set oauth_settings_passphrase "
        f"(or {fallback_setting}, which it defaults to)"
    )
    raise SettingsFileError(msg)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: object) -> bytes:
    if not isinstance(text, str):
        raise ValueError("not base64 text")  # noqa: EM101, TRY003, TRY004
    return base64.b64decode(text.encode("ascii"), validate=True)


def _header_aad(header: dict[str, Any]) -> bytes:
    bound = {k: header[k] for k in ("format", "version", "kdf", "cipher")}
    return json.dumps(bound, sort_keys=True, separators=(",", ":")).encode("utf-8")


def _derive_key(passphrase: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    cache_key = (hashlib.sha256(passphrase.encode("utf-8")).digest(), salt, n, r, p)
    with _key_cache_lock:
        key = _key_cache.get(cache_key)
    if key is None:
        key = Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(passphrase.encode("utf-8"))
        with _key_cache_lock:
            _key_cache[cache_key] = key
    return key


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - some filesystems refuse fsync on a directory
        pass
    finally:
        os.close(fd)


class SettingsFile:
    """One encrypted settings file; see the module docstring."""

    def __init__(
        self,
        path: str | os.PathLike[str] | None,
        passphrase: str,
        *,
        lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    ) -> None:
        """Name the file (``None``: :func:`default_location`) and its key material."""
        if not passphrase:
            msg = "the settings file needs a non-empty passphrase (oauth_settings_passphrase)"
            raise SettingsFileError(msg)
        self.path = Path(path).expanduser() if path else default_location()
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self.lock_timeout = lock_timeout
        self._passphrase = passphrase

    def __repr__(self) -> str:
        """Never shows the passphrase."""
        return f"SettingsFile({str(self.path)!r})"

    # -- reading ---------------------------------------------------------------------

    def load(self) -> dict[str, Any]:
        """A snapshot of the whole state; ``{}`` when the file does not exist.

        Raises:
            SettingsFileError: unreadable, tampered, wrong passphrase, unknown version.
        """
        state, _ = self._read()
        return state

    def _read(self) -> tuple[dict[str, Any], dict[str, Any] | None]:  # noqa: C901  (one check per way a file can be bad)
        """Decrypt the file: (state, header) or ({}, None) when absent."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return {}, None
        except OSError as exc:
            msg = f"cannot read the settings file {self.path}: {exc.strerror}"
            raise SettingsFileError(msg) from None
        try:
            header = json.loads(raw.decode("utf-8"))
            if not isinstance(header, dict) or header.get("format") != FORMAT:
                raise ValueError("not a settings file")  # noqa: EM101, TRY003, TRY301
        except ValueError:
            msg = (
                f"the settings file {self.path} is not a tap-atlassian settings file "
                "(damaged or replaced); restore a good copy, or delete it and log in again"
            )
            raise SettingsFileError(msg) from None
        version = header.get("version")
        if version != VERSION:
            msg = (
                f"the settings file {self.path} has format version {version!r}; this "
                f"tap-atlassian reads version {VERSION}: upgrade tap-atlassian"
            )
            raise SettingsFileError(msg)
        try:
            kdf = header["kdf"]
            if kdf.get("name") != "scrypt" or header.get("cipher") != _CIPHER:
                raise ValueError("unknown algorithm")  # noqa: EM101, TRY003, TRY301
            salt = _unb64(kdf["salt"])
            n, r, p = int(kdf["n"]), int(kdf["r"]), int(kdf["p"])
            nonce = _unb64(header["nonce"])
            ciphertext = _unb64(header["ciphertext"])
            aad = _header_aad(header)
        except (KeyError, TypeError, ValueError, AttributeError):
            msg = (
                f"the settings file {self.path} is damaged (its header does not parse); "
                "restore a good copy, or delete it and log in again"
            )
            raise SettingsFileError(msg) from None
        try:
            key = _derive_key(self._passphrase, salt, n, r, p)
            plaintext = AESGCM(key).decrypt(nonce, ciphertext, aad)
        except (InvalidTag, ValueError):
            msg = (
                f"cannot decrypt the settings file {self.path}: wrong "
                "oauth_settings_passphrase (or the secret it defaults to), or the file was "
                "modified. Set the passphrase it was written with, or restore a good copy; "
                "deleting it means logging in again"
            )
            raise SettingsFileError(msg) from None
        try:
            state = json.loads(plaintext.decode("utf-8"))
        except ValueError:  # pragma: no cover - authenticated, so only our own bug
            msg = f"the settings file {self.path} decrypts to invalid JSON"
            raise SettingsFileError(msg) from None
        if not isinstance(state, dict):  # pragma: no cover - same
            msg = f"the settings file {self.path} does not hold a JSON object"
            raise SettingsFileError(msg)
        return state, header

    # -- writing ---------------------------------------------------------------------

    @contextlib.contextmanager
    def transaction(self) -> Iterator[dict[str, Any]]:
        """Lock, read, yield the state to modify, write it back if changed, unlock.

        The lock is exclusive and held for the whole block, so whatever the block does
        (a token refresh) is never done twice at once by two processes.

        Raises:
            SettingsFileError: when the lock is not granted within ``lock_timeout`` or the
                file cannot be read or written.
        """
        with self._locked():
            state, header = self._read()
            before = copy.deepcopy(state)
            yield state
            if state != before:
                self._write(state, header)

    def save(self, state: dict[str, Any]) -> None:
        """Replace the whole state (under the lock)."""
        with self.transaction() as current:
            current.clear()
            current.update(state)

    def _write(self, state: dict[str, Any], old_header: dict[str, Any] | None) -> None:
        """Encrypt and atomically replace the file. Caller holds the lock."""
        if old_header is not None:
            kdf = dict(old_header["kdf"])  # same salt: the cached key stays valid
        else:
            kdf = dict(_KDF_DEFAULTS, salt=_b64(os.urandom(16)))
        header: dict[str, Any] = {
            "format": FORMAT,
            "version": VERSION,
            "kdf": kdf,
            "cipher": _CIPHER,
        }
        key = _derive_key(self._passphrase, _unb64(kdf["salt"]), int(kdf["n"]), int(kdf["r"]), int(kdf["p"]))
        nonce = os.urandom(12)
        plaintext = json.dumps(state, sort_keys=True).encode("utf-8")
        ciphertext = AESGCM(key).encrypt(nonce, plaintext, _header_aad(header))
        header["nonce"] = _b64(nonce)
        header["ciphertext"] = _b64(ciphertext)
        data = (json.dumps(header, indent=1) + "\n").encode("ascii")

        directory = self.path.parent
        fd, tmp_name = tempfile.mkstemp(dir=directory, prefix=f".{self.path.name}.", suffix=_TMP_SUFFIX)
        try:
            # mkstemp creates the file 0600 (owner only) on POSIX; os.replace is atomic on
            # Windows too
            with os.fdopen(fd, "wb") as tmp:
                tmp.write(data)
                tmp.flush()
                os.fsync(tmp.fileno())
            Path(tmp_name).replace(self.path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                Path(tmp_name).unlink()
            msg = f"cannot write the settings file {self.path}: {exc.strerror}"
            raise SettingsFileError(msg) from None
        _fsync_dir(directory)

    # -- locking ---------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        held: set[str] = getattr(_held, "paths", None) or set()
        _held.paths = held
        key = str(self.path.resolve())
        if key in held:
            msg = f"nested transaction on the settings file {self.path} (a bug)"
            raise SettingsFileError(msg)
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            msg = f"cannot create the directory of the settings file {self.path}: {exc.strerror}"
            raise SettingsFileError(msg) from None
        lock = filelock.FileLock(self.lock_path, mode=0o600)
        try:
            lock.acquire(timeout=self.lock_timeout, poll_interval=0.05)
        except filelock.Timeout:
            msg = (
                f"the settings file {self.path} stayed locked by another "
                f"tap-atlassian process for {self.lock_timeout:.0f} s; "
                "let it finish (or stop it) and run again"
            )
            raise SettingsFileError(msg) from None
        except OSError as exc:
            msg = f"cannot create the lock file {self.lock_path}: {exc.strerror}"
            raise SettingsFileError(msg) from None
        held.add(key)
        try:
            self._remove_stale_temps()
            yield
        finally:
            held.discard(key)
            lock.release()

    def _remove_stale_temps(self) -> None:
        """Temporary files left by a process killed mid-write (we hold the lock)."""
        for leftover in self.path.parent.glob(f".{self.path.name}.*{_TMP_SUFFIX}"):
            with contextlib.suppress(OSError):
                leftover.unlink()
