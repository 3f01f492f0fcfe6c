"""Enterprise networks: the fake site over HTTPS with its own certificate authority.

``ca_bundle`` is trusted by every request of every login scheme; a certificate that does not
verify is one line naming the host and the setting, never retried, never ``verify=False``;
``REQUESTS_CA_BUNDLE`` / ``SSL_CERT_FILE`` and the proxy variables are honoured.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
import typing as t

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.fake_atlassian.idp_oauth2 import CLOUD_ID
from tests.tapdriver import fake_config, leaks, run_tap

if t.TYPE_CHECKING:
    from pathlib import Path

# A CA bundle in the environment of the test process must not make a failure pass.
CLEAN_ENV = {"REQUESTS_CA_BUNDLE": "", "CURL_CA_BUNDLE": "", "SSL_CERT_FILE": "",
             "HTTPS_PROXY": "", "HTTP_PROXY": "", "https_proxy": "", "http_proxy": "", "NO_PROXY": "", "no_proxy": ""}


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example Corp (test)"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common)])


def make_ca(tmp: Path) -> dict[str, Path]:
    """A private CA and a server certificate for 127.0.0.1 / localhost signed by it."""
    now = dt.datetime.now(dt.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (x509.CertificateBuilder().subject_name(_name("Example Corp Internal CA"))
               .issuer_name(_name("Example Corp Internal CA")).public_key(ca_key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
               .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                            key_encipherment=False, data_encipherment=False,
                                            key_agreement=False, key_cert_sign=True, crl_sign=True,
                                            encipher_only=False, decipher_only=False), critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
               .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(_name("localhost")).issuer_name(ca_cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = {"ca": tmp / "corp-ca.pem", "cert": tmp / "server.pem", "key": tmp / "server-key.pem"}
    paths["ca"].write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    paths["cert"].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths["key"].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
    return paths


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_ca(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def https_fake(fake_factory, pki):  # noqa: ANN001, ANN201
    def make(**kwargs: t.Any):  # noqa: ANN202, ANN401
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(pki["cert"], pki["key"])
        fake = fake_factory(**kwargs)
        return fake.serve_tls(context)
    return make


def served(fake) -> list:  # noqa: ANN001
    return [e for e in fake.log if not e.path.startswith("/__fake__")]


def test_ca_bundle_is_trusted_by_basic_login(https_fake, pki) -> None:  # noqa: ANN001
    fake = https_fake(flavour="server")
    assert fake.url.startswith("https://")
    config = fake_config(fake, ca_bundle=str(pki["ca"]), deployment="auto")
    run = run_tap(config, env=CLEAN_ENV)
    assert run.returncode == 0, run.last_stderr_line
    assert len(run.records["jira_issues"]) == fake.data.issue_count()
    assert len(run.records["confluence_pages"]) == fake.data.page_count()


def test_a_certificate_that_does_not_verify_is_one_line_naming_host_and_setting(https_fake) -> None:  # noqa: ANN001
    fake = https_fake(flavour="server")
    config = fake_config(fake, products=["jira_service_desk"], max_retries=3)
    run = run_tap(config, env=CLEAN_ENV)
    assert run.returncode == 1
    host = fake.url.split("//", 1)[1]
    line = run.last_stderr_line
    assert f"the TLS certificate of {host} could not be verified" in line and "set ca_bundle" in line
    assert "retrying" not in run.stderr and "Traceback" not in run.stderr
    assert served(fake) == []  # no request got through: nothing was sent unverified
    auto = run_tap({**config, "deployment": "auto"}, env=CLEAN_ENV)
    assert auto.returncode == 1 and "ca_bundle" in auto.last_stderr_line and host in auto.last_stderr_line
    assert not leaks(run, config) and not leaks(auto, config)


@pytest.mark.parametrize("variable", ["REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"])
def test_ca_variables_of_the_environment_are_honoured(https_fake, pki, variable) -> None:  # noqa: ANN001
    fake = https_fake(flavour="server")
    run = run_tap(fake_config(fake, products=["jira_service_desk"]), env={**CLEAN_ENV, variable: str(pki["ca"])})
    assert run.returncode == 0, run.last_stderr_line
    assert len(run.records["jira_issues"]) == fake.data.issue_count()


def test_the_proxy_variable_is_honoured(fake_factory) -> None:  # noqa: ANN001
    # The fake answers absolute-form requests as a forward proxy would pass them on: the
    # site's own name does not resolve, so only a run through HTTP_PROXY can read it.
    fake = fake_factory(flavour="server")
    site = "http://jira.corp.invalid:8080"
    config = fake_config(fake, products=["jira_service_desk"], url=site, jira_url=site, confluence_url=site)
    run = run_tap(config, env={**CLEAN_ENV, "HTTP_PROXY": fake.url, "http_proxy": fake.url})
    assert run.returncode == 0, run.last_stderr_line
    assert len(run.records["jira_issues"]) == fake.data.issue_count()
    direct = run_tap(config, env=CLEAN_ENV)
    assert direct.returncode == 1 and "could not reach jira.corp.invalid:8080" in direct.last_stderr_line


def test_ca_bundle_is_trusted_by_oauth2_token_requests(https_fake, pki, tmp_path) -> None:  # noqa: ANN001
    fake = https_fake(flavour="cloud")
    settings = fake.oauth2.tap_config(str(tmp_path / "OAuthSettings.txt"))
    tokens = fake.oauth2.issue("read:jira-work read:jira-user read:servicedesk-request offline_access")
    config = fake_config(fake, "oauth", **settings, oauth_refresh_token=tokens["refresh_token"],
                         products=["jira_service_desk"], ca_bundle=str(pki["ca"]), cloud_id=CLOUD_ID)
    run = run_tap(config, env=CLEAN_ENV)
    assert run.returncode == 0, run.last_stderr_line
    assert any(e.path == "/oauth/token" for e in fake.log)
    assert len(run.records["jira_issues"]) == fake.data.issue_count()


def test_ca_bundle_is_trusted_by_the_okta_login(https_fake, pki, tmp_path) -> None:  # noqa: ANN001
    # Okta's flow (authn, the app's SAML form, the product's consumer) runs through the same
    # saml.drive as Crowd's; the fake's SAML service provider keeps the http:// consumer URL
    # it was installed with, so Crowd's assertion is refused there over https.
    fake = https_fake(flavour="server")
    for idp in (fake.okta,):
        config = fake_config(fake, **idp.settings(), products=["jira_service_desk"], ca_bundle=str(pki["ca"]),
                             oauth_settings_location=str(tmp_path / f"{idp.settings()['auth_scheme']}.txt"))
        run = run_tap(config, env=CLEAN_ENV)
        assert run.returncode == 0, run.last_stderr_line
        assert len(run.records["jira_issues"]) == fake.data.issue_count()
        refused = run_tap({**config, "ca_bundle": None,
                           "oauth_settings_location": str(tmp_path / "other.txt")}, env=CLEAN_ENV)
        assert refused.returncode == 1
        assert "could not be verified" in refused.last_stderr_line and "ca_bundle" in refused.last_stderr_line
