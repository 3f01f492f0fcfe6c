"""The fake's own RFC 5849 signature check agrees with the RFC and with authlib's signer.

The fake builds the signature base string itself (``tests/fake_atlassian/idp_oauth1.py``);
these tests pin it to the RFC's worked example, then check that requests signed by the
tap's signer (authlib RSA-SHA1) verify, and that any change to a signed request does not.
"""

from __future__ import annotations

import types
from urllib.parse import urlsplit

import pytest
import requests

from tap_atlassian.auth.oauth1 import signer
from tests.fake_atlassian.http import FakeHTTPError, FakeRequest, Headers
from tests.fake_atlassian.idp_oauth1 import (
    OAuth1Provider,
    _Token,
    base_string_uri,
    parse_authorization,
    request_parameters,
    signature_base_string,
)

# RFC 5849 section 3.4.1.1: the request and the base string it must give.
RFC_HEADER = (
    'OAuth realm="Example", oauth_consumer_key="9djdj82h48djs9d2", '
    'oauth_token="kkk9d7dh3k39sjv7", oauth_signature_method="HMAC-SHA1", '
    'oauth_timestamp="137131201", oauth_nonce="7d8f3e4a", '
    'oauth_signature="bYT5CMsGcbgUdFHObYMEfcx6bsw%3D"'
)
RFC_BASE = (
    "POST&http%3A%2F%2Fexample.com%2Frequest&a2%3Dr%2520b%26a3%3D2%2520q"
    "%26a3%3Da%26b5%3D%253D%25253D%26c%2540%3D%26c2%3D%26oauth_consumer_"
    "key%3D9djdj82h48djs9d2%26oauth_nonce%3D7d8f3e4a%26oauth_signature_m"
    "ethod%3DHMAC-SHA1%26oauth_timestamp%3D137131201%26oauth_token%3Dkkk"
    "9d7dh3k39sjv7"
)


def test_base_string_of_the_rfc_example():
    auth = parse_authorization(RFC_HEADER)
    assert auth["oauth_signature"] == "bYT5CMsGcbgUdFHObYMEfcx6bsw="
    pairs = request_parameters("b5=%3D%253D&a3=a&c%40=&a2=r%20b", auth,
                               "application/x-www-form-urlencoded", b"c2&a3=2+q")
    uri = base_string_uri("http", "Example.com:80", "/request")
    assert uri == "http://example.com/request"
    assert signature_base_string("POST", uri, pairs) == RFC_BASE


def test_base_string_uri_keeps_other_ports():
    assert base_string_uri("HTTP", "127.0.0.1:8080", "/a") == "http://127.0.0.1:8080/a"
    assert base_string_uri("https", "x.example:443", "") == "https://x.example/"


@pytest.fixture
def provider():
    fake = types.SimpleNamespace(credentials={"user": "admin"})
    return OAuth1Provider(fake)


def _received(prepared: requests.PreparedRequest, host: str = "main") -> FakeRequest:
    """The request as the fake's listener would hand it over."""
    parts = urlsplit(prepared.url)
    headers = dict(prepared.headers)
    headers["Host"] = parts.netloc
    body = prepared.body or b""
    return FakeRequest(method=prepared.method, path=parts.path, raw_query=parts.query,
                       headers=Headers(list(headers.items())),
                       body=body.encode() if isinstance(body, str) else body, host=host,
                       base_url=f"{parts.scheme}://{parts.netloc}")


def _sign(provider, method="GET", url="http://127.0.0.1:8080/rest/api/2/search",
          token="access-1", **kw) -> requests.PreparedRequest:
    prepared = requests.Request(method, url, **kw).prepare()
    return signer(provider.consumer_key, provider.private_key, token=token)(prepared)


def _grant(provider, token="access-1", host="main"):
    provider._host(host).access_tokens[token] = _Token(provider.consumer_key, "s", 0, user="admin")


@pytest.mark.parametrize("kw", [
    {},
    {"params": {"jql": 'project = "SD" AND updated >= "2024-01-02 03:04" ORDER BY updated',
                "fields": "*all,-comment", "startAt": "0", "empty": "", "tilde": "a~b",
                "unicode": "Grüße ✓", "plus": "1+1"}},
    {"params": [("expand", "a"), ("expand", "b"), ("space", "A B")]},
])
def test_authlib_signed_get_verifies(provider, kw):
    _grant(provider)
    identity = provider.authenticate(_received(_sign(provider, **kw)))
    assert identity.kind == "oauth1"
    assert identity.user == "admin"
    assert provider.verified == 1


def test_stock_authlib_rsa_sha1_signer_verifies_too(provider):
    """The tap's signer only loads the key once; authlib's own (PEM per request) agrees."""
    from authlib.integrations.requests_client import OAuth1Auth

    _grant(provider)
    prepared = requests.Request("GET", "http://127.0.0.1:8080/rest/api/2/search",
                                params={"jql": "a = b"}).prepare()
    stock = OAuth1Auth(provider.consumer_key, token="access-1", signature_method="RSA-SHA1",
                       rsa_key=provider.private_key_pem)(prepared)
    assert provider.authenticate(_received(stock))


def test_json_and_form_posts_verify(provider):
    _grant(provider)
    json_post = _sign(provider, "POST", json={"jql": "order by id", "maxResults": 5})
    assert provider.authenticate(_received(json_post))
    form_post = _sign(provider, "POST", data={"a": "1 2", "b": "ä"})
    assert provider.authenticate(_received(form_post))


def _problem(provider, request: FakeRequest) -> str:
    with pytest.raises(FakeHTTPError) as info:
        provider.authenticate(request)
    error = info.value
    assert error.status == 401
    headers = dict(error.headers)
    assert headers["WWW-Authenticate"].startswith(f'OAuth realm="{request.base_url}"')
    problem = error.body.decode().split("&")[0].split("=", 1)[1]
    assert f'oauth_problem="{problem}"' in headers["WWW-Authenticate"]
    return problem


def test_any_change_breaks_the_signature(provider):
    _grant(provider)
    original = _sign(provider, params={"startAt": "0"})
    for change in ("startAt=50", "startAt=0&x=1"):
        tampered = _received(original)
        tampered.raw_query = change
        assert _problem(provider, tampered) == "signature_invalid"
    other_path = _received(original)
    other_path.path = "/rest/api/2/issue/1"
    assert _problem(provider, other_path) == "signature_invalid"
    other_method = _received(original)
    other_method.method = "DELETE"
    assert _problem(provider, other_method) == "signature_invalid"
    other_host = _received(original)
    other_host.headers = Headers([(k, v.replace("8080", "8081") if k == "host" else v)
                                  for k, v in other_host.headers.items()])
    assert _problem(provider, other_host) == "signature_invalid"
    assert provider.authenticate(_received(original))  # the untouched one still passes


def test_signature_by_another_key_is_invalid(provider):
    from cryptography.hazmat.primitives.asymmetric import rsa

    _grant(provider)
    other = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    prepared = requests.Request("GET", "http://127.0.0.1:8080/rest/api/2/myself").prepare()
    signed = signer(provider.consumer_key, other, token="access-1")(prepared)
    assert _problem(provider, _received(signed)) == "signature_invalid"


def test_reused_nonce(provider):
    _grant(provider)
    request = _received(_sign(provider))
    assert provider.authenticate(request)
    assert _problem(provider, request) == "nonce_used"


def test_stale_timestamp(provider):
    _grant(provider)
    provider.clock_offset = 3600
    assert _problem(provider, _received(_sign(provider))) == "timestamp_refused"
    provider.clock_offset = -3600
    assert _problem(provider, _received(_sign(provider))) == "timestamp_refused"


def test_unknown_consumer_and_token(provider):
    _grant(provider)
    prepared = requests.Request("GET", "http://127.0.0.1:8080/rest/api/2/myself").prepare()
    stranger = signer("someone-else", provider.private_key, token="access-1")(prepared)
    assert _problem(provider, _received(stranger)) == "consumer_key_unknown"
    assert _problem(provider, _received(_sign(provider, token="nope"))) == "token_rejected"
    # a token of Jira's host is unknown on a separate Confluence host
    assert _problem(provider, _received(_sign(provider), host="confluence")) == "token_rejected"


def test_hmac_and_missing_parameters_are_refused(provider):
    _grant(provider)
    request = _received(_sign(provider))
    header = request.headers["authorization"].replace("RSA-SHA1", "HMAC-SHA1")
    request.headers = Headers([("Authorization", header), ("Host", "127.0.0.1:8080")])
    assert _problem(provider, request) == "signature_method_rejected"
    request.headers = Headers([("Authorization", 'OAuth oauth_consumer_key="tap-atlassian"'),
                               ("Host", "127.0.0.1:8080")])
    assert _problem(provider, request) == "parameter_absent"


def test_requests_without_oauth_are_left_to_other_authenticators(provider):
    request = _received(requests.Request("GET", "http://127.0.0.1:8080/x",
                                         headers={"Authorization": "Bearer t"}).prepare())
    assert provider.authenticate(request) is None


def test_servlets_over_http_oob_and_single_use_tokens(fake_server):
    """The three servlets as a client sees them (``oob`` shows the verifier on a page)."""
    from urllib.parse import parse_qsl

    from tap_atlassian.auth.oauth1 import access_token, oauth_problem, request_token

    fake, key = fake_server, fake_server.oauth1.private_key
    session = requests.Session()
    answer = request_token(session, fake.url, fake.oauth1.consumer_key, key, "oob")
    assert answer["oauth_callback_confirmed"] == "true"
    page = session.get(f"{fake.url}/plugins/servlet/oauth/authorize",
                       params={"oauth_token": answer["oauth_token"]}, allow_redirects=False)
    assert page.status_code == 200
    verifier = page.text.split("verification code is '")[1].split("'")[0]

    # a request token is no access token
    prepared = requests.Request("GET", f"{fake.url}/rest/api/2/myself").prepare()
    refused = session.send(signer(fake.oauth1.consumer_key, key, token=answer["oauth_token"])(
        prepared))
    assert refused.status_code == 401
    assert oauth_problem(refused) == "token_rejected"
    assert refused.headers["WWW-Authenticate"].startswith("OAuth realm=")

    granted = access_token(session, fake.url, fake.oauth1.consumer_key, key,
                           answer["oauth_token"], verifier)
    me = session.send(signer(fake.oauth1.consumer_key, key, token=granted["oauth_token"])(
        requests.Request("GET", f"{fake.url}/rest/api/2/myself").prepare()))
    assert me.status_code == 200
    assert me.json()["name"] == fake.credentials["user"]

    again = session.post(f"{fake.url}/plugins/servlet/oauth/access-token", auth=signer(
        fake.oauth1.consumer_key, key, token=answer["oauth_token"], verifier=verifier))
    assert again.status_code == 401
    assert dict(parse_qsl(again.text))["oauth_problem"] == "token_rejected"

    no_callback = session.post(f"{fake.url}/plugins/servlet/oauth/request-token",
                               auth=signer(fake.oauth1.consumer_key, key))
    assert dict(parse_qsl(no_callback.text)) == {
        "oauth_problem": "parameter_absent", "oauth_parameters_absent": "oauth_callback"}
