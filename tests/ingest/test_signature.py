"""Signature checking as a plain function: HMAC of the raw bytes, any configured secret, SHA-1 on request."""

import hashlib
import hmac

from ingest.signature import SIGNATURE_SHA1, SIGNATURE_V2, sign, verify

BODY = b'{"topic": "ping", "events": [{"site_id": "s"}]}'
SECRETS = [b"old-secret", b"new-secret"]


def test_sign_is_mists_hex_hmac():
    headers = sign(BODY, "new-secret")
    assert headers[SIGNATURE_V2] == hmac.new(b"new-secret", BODY, hashlib.sha256).hexdigest()
    assert headers[SIGNATURE_SHA1] == hmac.new(b"new-secret", BODY, hashlib.sha1).hexdigest()
    assert headers[SIGNATURE_V2] == headers[SIGNATURE_V2].lower()


def test_any_configured_secret_verifies():
    assert verify(BODY, sign(BODY, "old-secret"), SECRETS)
    assert verify(BODY, sign(BODY, "new-secret"), SECRETS)
    assert not verify(BODY, sign(BODY, "other"), SECRETS)


def test_the_raw_bytes_are_signed():
    headers = sign(BODY, "new-secret")
    assert not verify(BODY.replace(b": ", b":"), headers, SECRETS)  # same JSON, other bytes
    assert not verify(BODY + b"\n", headers, SECRETS)


def test_missing_empty_or_garbage_signatures():
    assert not verify(BODY, {}, SECRETS)
    assert not verify(BODY, {SIGNATURE_V2: ""}, SECRETS)
    assert not verify(BODY, {SIGNATURE_V2: "zz"}, SECRETS)
    assert not verify(BODY, {SIGNATURE_V2: "é" * 64}, SECRETS)  # non-ASCII: refused, not an exception
    assert not verify(BODY, {SIGNATURE_V2: "\udcff" * 64}, SECRETS)  # undecodable header bytes
    assert not verify(BODY, sign(BODY, "new-secret"), [])


def test_case_and_whitespace_of_the_hex_do_not_matter():
    v2 = sign(BODY, "new-secret")[SIGNATURE_V2]
    assert verify(BODY, {SIGNATURE_V2: v2.upper()}, SECRETS)
    assert verify(BODY, {SIGNATURE_V2: f" {v2} "}, SECRETS)


def test_sha1_only_when_accepted():
    sha1_only = {SIGNATURE_SHA1: sign(BODY, "new-secret")[SIGNATURE_SHA1]}
    assert not verify(BODY, sha1_only, SECRETS)
    assert verify(BODY, sha1_only, SECRETS, accept_sha1=True)
    # A wrong v2 beside a right SHA-1: valid only when SHA-1 is accepted.
    both = {SIGNATURE_V2: "0" * 64, **sha1_only}
    assert not verify(BODY, both, SECRETS)
    assert verify(BODY, both, SECRETS, accept_sha1=True)
