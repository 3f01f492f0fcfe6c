"""OAuth 1.0 private keys: every PEM flavour loads; every bad key is one clear line.

Keys are generated here with ``cryptography`` (and with the seeds' openssl commands when
``openssl`` is on the machine). No message may contain key material or the key password.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

from tap_atlassian.auth.oauth1 import (
    load_private_key,
    passphrase_from_key,
    public_key_pem,
)
from tap_atlassian.config import ConfigError, Settings

PASSWORD = "correct horse battery"  # noqa: S105 - test key password


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _pem(key: rsa.RSAPrivateKey, fmt: str, password: str | None) -> bytes:
    formats = {"pkcs1": serialization.PrivateFormat.TraditionalOpenSSL,
               "pkcs8": serialization.PrivateFormat.PKCS8}
    enc = (serialization.BestAvailableEncryption(password.encode()) if password
           else serialization.NoEncryption())
    return key.private_bytes(serialization.Encoding.PEM, formats[fmt], enc)


def _certificate(key: rsa.RSAPrivateKey) -> bytes:
    import datetime as dt

    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tap-atlassian test")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1)
            .not_valid_before(now).not_valid_after(now + dt.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM)


def _material(pem: bytes) -> list[str]:
    """Lines of base64 inside a PEM: none may appear in a message."""
    return [line for line in pem.decode().splitlines() if line and not line.startswith("-")
            and ":" not in line]


def _same_key(a: rsa.RSAPrivateKey, b: rsa.RSAPrivateKey) -> bool:
    return a.private_numbers() == b.private_numbers()


@pytest.mark.parametrize("fmt", ["pkcs1", "pkcs8"])
@pytest.mark.parametrize("password", [None, PASSWORD])
@pytest.mark.parametrize("kind", ["PEMKEY_FILE", "PEMKEY_BLOB"])
def test_every_pem_flavour_loads(key, tmp_path, fmt, password, kind):
    pem = _pem(key, fmt, password)
    if password:
        assert b"ENCRYPTED" in pem
    path = tmp_path / "key.pem"
    path.write_bytes(pem)
    settings = {"oauth_jwt_cert": str(path) if kind == "PEMKEY_FILE" else pem.decode(),
                "oauth_jwt_cert_type": kind, "oauth_jwt_cert_password": password}
    assert _same_key(load_private_key(settings), key)


def test_file_is_the_default_type_and_typed_settings_work(key, tmp_path):
    path = tmp_path / "jira_privatekey.pcks8"
    path.write_bytes(_pem(key, "pkcs8", None))
    settings = Settings.from_config({
        "url": "http://jira.example.test", "auth_scheme": "oauth", "oauth_version": "1.0",
        "oauth_client_id": "tap", "oauth_jwt_cert": str(path)})
    assert _same_key(load_private_key(settings), key)


def test_one_line_blob_with_escaped_newlines(key):
    blob = _pem(key, "pkcs1", None).decode().replace("\n", "\\n")
    got = load_private_key({"oauth_jwt_cert": blob, "oauth_jwt_cert_type": "PEMKEY_BLOB"})
    assert _same_key(got, key)


def test_password_on_an_unencrypted_key_is_ignored(key):
    pem = _pem(key, "pkcs8", None).decode()
    got = load_private_key({"oauth_jwt_cert": pem, "oauth_jwt_cert_type": "PEMKEY_BLOB",
                            "oauth_jwt_cert_password": PASSWORD})
    assert _same_key(got, key)


def test_public_half_is_what_the_application_link_takes(key):
    public = serialization.load_pem_public_key(public_key_pem(key).encode())
    signature = key.sign(b"base string", padding.PKCS1v15(), hashes.SHA1())  # noqa: S303
    public.verify(signature, b"base string", padding.PKCS1v15(), hashes.SHA1())  # noqa: S303
    assert public_key_pem(key).startswith("-----BEGIN PUBLIC KEY-----")


def test_settings_file_passphrase_is_derived_from_the_private_key(key):
    other = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    derived = passphrase_from_key(key)
    assert derived == passphrase_from_key(key)
    assert derived != passphrase_from_key(other)
    assert len(derived) == 64  # noqa: PLR2004
    for line in _material(_pem(key, "pkcs1", None)):
        assert line not in derived


def _error(settings: dict) -> str:
    with pytest.raises(ConfigError) as info:
        load_private_key(settings)
    message = str(info.value)
    assert "\n" not in message
    return message


def _assert_clean(message: str, *pems: bytes) -> None:
    assert PASSWORD not in message
    for pem in pems:
        for line in _material(pem):
            assert line not in message


def test_missing_key_names_the_setting():
    message = _error({})
    assert message.startswith("oauth_jwt_cert:")


def test_missing_file_names_the_setting_and_path(tmp_path):
    message = _error({"oauth_jwt_cert": str(tmp_path / "nope.pem")})
    assert message.startswith("oauth_jwt_cert: no private key file at ")
    assert "nope.pem" in message


def test_directory_is_not_a_key(tmp_path):
    assert _error({"oauth_jwt_cert": str(tmp_path)}).startswith("oauth_jwt_cert: ")


def test_pem_text_given_as_a_file_path_is_not_echoed(key):
    pem = _pem(key, "pkcs1", None)
    message = _error({"oauth_jwt_cert": pem.decode()})
    assert "PEMKEY_BLOB" in message
    _assert_clean(message, pem)


def test_unknown_cert_type():
    message = _error({"oauth_jwt_cert": "x", "oauth_jwt_cert_type": "PFXFILE"})
    assert message.startswith("oauth_jwt_cert_type:")


@pytest.mark.parametrize("what", ["public", "certificate", "pkcs1-public"])
def test_public_key_or_certificate_where_the_private_key_belongs(key, tmp_path, what):
    if what == "public":
        pem = public_key_pem(key).encode()
    elif what == "pkcs1-public":
        pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                            serialization.PublicFormat.PKCS1)
    else:
        pem = _certificate(key)
    path = tmp_path / "jira_publickey.pem"
    path.write_bytes(pem)
    for settings in ({"oauth_jwt_cert": str(path)},
                     {"oauth_jwt_cert": pem.decode(), "oauth_jwt_cert_type": "PEMKEY_BLOB"}):
        message = _error(settings)
        assert message.startswith("oauth_jwt_cert: holds a public key or certificate")
        _assert_clean(message, pem)


def test_garbage_does_not_parse(key, tmp_path):
    pem = _pem(key, "pkcs8", None)
    damaged = pem.replace(pem[60:90], b"A" * 30)
    for data, expected in ((b"not a key at all", "not a PEM private key"),
                           (damaged, "does not parse")):
        path = tmp_path / "k.pem"
        path.write_bytes(data)
        message = _error({"oauth_jwt_cert": str(path)})
        assert message.startswith("oauth_jwt_cert: ")
        assert expected in message
        _assert_clean(message, pem)


@pytest.mark.parametrize("fmt", ["pkcs1", "pkcs8"])
def test_wrong_password_names_the_password_setting(key, fmt):
    pem = _pem(key, fmt, PASSWORD)
    message = _error({"oauth_jwt_cert": pem.decode(), "oauth_jwt_cert_type": "PEMKEY_BLOB",
                      "oauth_jwt_cert_password": "not the password"})
    assert message.startswith("oauth_jwt_cert_password: does not decrypt")
    assert "not the password" not in message
    _assert_clean(message, pem)


@pytest.mark.parametrize("fmt", ["pkcs1", "pkcs8"])
def test_missing_password_for_an_encrypted_key(key, fmt):
    pem = _pem(key, fmt, PASSWORD)
    message = _error({"oauth_jwt_cert": pem.decode(), "oauth_jwt_cert_type": "PEMKEY_BLOB"})
    assert message.startswith("oauth_jwt_cert_password: required")
    _assert_clean(message, pem)


def test_an_ec_key_is_refused():
    ec_key = ec.generate_private_key(ec.SECP256R1())
    pem = ec_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                               serialization.NoEncryption())
    message = _error({"oauth_jwt_cert": pem.decode(), "oauth_jwt_cert_type": "PEMKEY_BLOB"})
    assert message.startswith("oauth_jwt_cert: application links need an RSA key")
    _assert_clean(message, pem)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
def test_the_seeds_openssl_commands(tmp_path: Path):
    """The four commands of the seeds' OAuth1.0 section, verbatim but for -subj and -batch."""
    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=tmp_path, check=True, capture_output=True,
                       timeout=60)

    run("genrsa", "-out", "jira_privatekey.pem", "1024")
    run("req", "-newkey", "rsa:1024", "-x509", "-key", "jira_privatekey.pem", "-out",
        "jira_publickey.cer", "-days", "365", "-subj", "/CN=tap-atlassian", "-batch")
    run("pkcs8", "-topk8", "-nocrypt", "-in", "jira_privatekey.pem", "-out",
        "jira_privatekey.pcks8")
    run("x509", "-pubkey", "-noout", "-in", "jira_publickey.cer", "-out", "jira_publickey.pem")
    a = load_private_key({"oauth_jwt_cert": str(tmp_path / "jira_privatekey.pem")})
    b = load_private_key({"oauth_jwt_cert": str(tmp_path / "jira_privatekey.pcks8")})
    assert _same_key(a, b)
    public = (tmp_path / "jira_publickey.pem").read_text()
    assert public == public_key_pem(a)
    for name in ("jira_publickey.pem", "jira_publickey.cer"):
        message = _error({"oauth_jwt_cert": str(tmp_path / name)})
        assert "public key or certificate" in message
    encrypted = tmp_path / "enc.pem"
    run("pkcs8", "-topk8", "-in", "jira_privatekey.pem", "-out", encrypted.name,
        "-passout", f"pass:{PASSWORD}")
    c = load_private_key({"oauth_jwt_cert": str(encrypted), "oauth_jwt_cert_password": PASSWORD})
    assert _same_key(a, c)
