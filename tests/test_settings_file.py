"""The encrypted settings file: format, atomic writes, locking across processes."""

from __future__ import annotations

import base64
import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tap_atlassian.settings_file import (
    SettingsFile,
    SettingsFileError,
    resolve_passphrase,
)

SECRET = "rt-very-secret-refresh-token-0123456789"
ROOT = Path(__file__).resolve().parents[1]


def _run_py(code: str, *args: str, **kw) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,
    )


def test_round_trip_is_encrypted_and_private(tmp_path):
    sf = SettingsFile(tmp_path / "sub" / "OAuthSettings.txt", "pass phrase")
    assert sf.load() == {}
    with sf.transaction() as state:
        state["oauth2"] = {"refresh_token": SECRET, "expires_at": 1.5}
        state["okta:jira"] = {"device_token": "dt"}
    raw = sf.path.read_bytes()
    assert SECRET.encode() not in raw
    assert b"refresh_token" not in raw
    assert stat.S_IMODE(sf.path.stat().st_mode) == 0o600
    header = json.loads(raw)
    assert header["format"] == "tap-atlassian-settings"
    assert header["version"] == 1
    # another instance (another process, another machine) with the same passphrase reads it
    again = SettingsFile(sf.path, "pass phrase").load()
    assert again == {"oauth2": {"refresh_token": SECRET, "expires_at": 1.5}, "okta:jira": {"device_token": "dt"}}
    # the salt is random per file: the same state under the same passphrase differs
    other = SettingsFile(tmp_path / "other.txt", "pass phrase")
    other.save(again)
    assert json.loads(other.path.read_bytes())["kdf"]["salt"] != header["kdf"]["salt"]
    # no temporary file is left next to it
    assert sorted(p.name for p in sf.path.parent.iterdir()) == ["OAuthSettings.txt", "OAuthSettings.txt.lock"]


def test_each_write_uses_a_fresh_nonce(tmp_path):
    sf = SettingsFile(tmp_path / "s.txt", "k")
    sf.save({"a": 1})
    first = json.loads(sf.path.read_bytes())
    sf.save({"a": 2})
    second = json.loads(sf.path.read_bytes())
    assert first["nonce"] != second["nonce"]
    assert sf.load() == {"a": 2}


def test_wrong_passphrase_is_a_clear_error_not_an_empty_state(tmp_path):
    path = tmp_path / "s.txt"
    SettingsFile(path, "right").save({"oauth2": {"refresh_token": SECRET}})
    with pytest.raises(SettingsFileError) as err:
        SettingsFile(path, "Zq9-not-the-passphrase").load()
    assert "oauth_settings_passphrase" in str(err.value)
    assert "Zq9" not in str(err.value)  # neither passphrase is echoed
    assert "right" not in str(err.value)
    # a transaction refuses too, and leaves the file alone
    before = path.read_bytes()
    with pytest.raises(SettingsFileError), SettingsFile(path, "wrong").transaction():
        pass
    assert path.read_bytes() == before


@pytest.mark.parametrize(
    "tamper",
    [
        "ciphertext_bit",
        "nonce",
        "kdf_param",
        "truncated",
        "not_json",
        "empty",
        "version",
        "missing_field",
    ],
)
def test_tampered_file_is_a_clear_error(tmp_path, tamper):
    path = tmp_path / "s.txt"
    SettingsFile(path, "right").save({"oauth2": {"refresh_token": SECRET}})
    raw = path.read_bytes()
    doc = json.loads(raw)
    if tamper == "ciphertext_bit":
        ct = bytearray(base64.b64decode(doc["ciphertext"]))
        ct[3] ^= 0x01
        doc["ciphertext"] = base64.b64encode(bytes(ct)).decode()
        raw = json.dumps(doc).encode()
    elif tamper == "nonce":
        doc["nonce"] = base64.b64encode(os.urandom(12)).decode()
        raw = json.dumps(doc).encode()
    elif tamper == "kdf_param":
        doc["kdf"]["r"] = 4
        raw = json.dumps(doc).encode()
    elif tamper == "truncated":
        raw = raw[: len(raw) // 2]
    elif tamper == "not_json":
        raw = b"access_token=abc\n"
    elif tamper == "empty":
        raw = b""
    elif tamper == "version":
        doc["version"] = 99
        raw = json.dumps(doc).encode()
    elif tamper == "missing_field":
        del doc["nonce"]
        raw = json.dumps(doc).encode()
    path.write_bytes(raw)
    with pytest.raises(SettingsFileError) as err:
        SettingsFile(path, "right").load()
    message = str(err.value)
    assert str(path) in message
    assert SECRET not in message
    if tamper == "version":
        assert "upgrade" in message


def test_exception_inside_a_transaction_writes_nothing(tmp_path):
    sf = SettingsFile(tmp_path / "s.txt", "k")
    sf.save({"oauth2": {"refresh_token": "old"}})
    before = sf.path.read_bytes()
    with pytest.raises(RuntimeError), sf.transaction() as state:
        state["oauth2"] = {"refresh_token": "new"}
        raise RuntimeError("the server refused")
    assert sf.path.read_bytes() == before
    # an unchanged state is not rewritten either
    with sf.transaction() as state:
        assert state["oauth2"]["refresh_token"] == "old"
    assert sf.path.read_bytes() == before


def test_nested_transaction_is_refused_not_deadlocked(tmp_path):
    sf = SettingsFile(tmp_path / "s.txt", "k", lock_timeout=5)
    with sf.transaction(), pytest.raises(SettingsFileError, match="nested"), sf.transaction():
        pass


def test_resolve_passphrase():
    assert resolve_passphrase("p", "secret", "oauth_client_secret") == "p"
    assert resolve_passphrase("", "secret", "oauth_client_secret") == "secret"
    with pytest.raises(SettingsFileError, match="oauth_client_secret"):
        resolve_passphrase(None, "", "oauth_client_secret")


INCREMENT = """
import sys
from tap_atlassian.settings_file import SettingsFile
path, rounds = sys.argv[1], int(sys.argv[2])
sf = SettingsFile(path, "k")
for _ in range(rounds):
    with sf.transaction() as state:
        section = state.setdefault("counter", {"n": 0, "spent": []})
        n = section["n"]
        section["spent"].append(n)   # each value may be "spent" once only
        section["n"] = n + 1
print("ok")
"""


def test_concurrent_processes_never_lose_an_update(tmp_path):
    path = str(tmp_path / "s.txt")
    procs = [_run_py(INCREMENT, path, "15") for _ in range(3)]
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        assert out.strip() == "ok"
    state = SettingsFile(path, "k").load()
    assert state["counter"]["n"] == 45
    assert sorted(state["counter"]["spent"]) == list(range(45))


HOLD = """
import sys, time
from tap_atlassian.settings_file import SettingsFile
sf = SettingsFile(sys.argv[1], "k")
with sf.transaction() as state:
    state["oauth2"] = {"refresh_token": "new"}
    print("holding", flush=True)
    time.sleep(60)
"""


def test_lock_wait_times_out_with_a_clear_message_and_dies_with_its_holder(tmp_path):
    path = tmp_path / "s.txt"
    SettingsFile(path, "k").save({"oauth2": {"refresh_token": "old"}})
    before = path.read_bytes()
    holder = _run_py(HOLD, str(path))
    try:
        assert holder.stdout.readline().strip() == "holding"
        with pytest.raises(SettingsFileError, match="locked by another"), SettingsFile(
            path, "k", lock_timeout=0.2
        ).transaction():
            pass
        # a process killed while holding the lock, mid read-modify-write, leaves the old
        # file intact, and its lock is released with it
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
    finally:
        if holder.poll() is None:
            holder.kill()
        holder.communicate()
    assert path.read_bytes() == before
    with SettingsFile(path, "k", lock_timeout=5).transaction() as state:
        assert state == {"oauth2": {"refresh_token": "old"}}


def test_leftover_temporary_file_is_ignored_and_cleaned(tmp_path):
    path = tmp_path / "s.txt"
    SettingsFile(path, "k").save({"a": 1})
    # what a process killed between writing the temporary file and renaming it leaves
    leftover = tmp_path / ".s.txt.abc123.tmp"
    leftover.write_bytes(b'{"format": "tap-atlassian-set')
    assert SettingsFile(path, "k").load() == {"a": 1}
    with SettingsFile(path, "k").transaction():
        pass
    assert not leftover.exists()


def test_repr_and_errors_never_show_the_passphrase(tmp_path):
    sf = SettingsFile(tmp_path / "s.txt", SECRET)
    assert SECRET not in repr(sf)
    with pytest.raises(SettingsFileError):
        SettingsFile(tmp_path / "s.txt", "")


WRITER = """
import sys
from tap_atlassian.settings_file import SettingsFile
sf = SettingsFile(sys.argv[1], "k")
n = 0
while True:
    with sf.transaction() as state:
        n = state.get("n", 0) + 1
        state["n"] = n
        state["padding"] = "x" * (n % 997) * 50   # files of varying length
    print(n, flush=True)
"""


@pytest.mark.parametrize("after", [1, 7, 23])
def test_killed_at_any_point_of_a_write_leaves_a_whole_file(tmp_path, after):
    path = tmp_path / "s.txt"
    SettingsFile(path, "k").save({"n": 0})
    writer = _run_py(WRITER, str(path))
    try:
        for _ in range(after):
            last = int(writer.stdout.readline())
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=10)
    finally:
        if writer.poll() is None:
            writer.kill()
        writer.communicate()
    # a whole file: the last announced write, or a later one the writer finished before the kill
    n = SettingsFile(path, "k", lock_timeout=5).load()["n"]
    assert n >= last
    with SettingsFile(path, "k", lock_timeout=5).transaction() as state:
        state["n"] = n + 1
    assert not list(tmp_path.glob(".s.txt.*.tmp"))
