"""utils.security: password hashes, the signing key, and tokens that lack what they need."""

from __future__ import annotations

import os
import string
import time
from datetime import UTC, datetime, timedelta

import pytest
from jose import jwt

from utils.security import (
    ALGORITHM,
    PasswordHasher,
    TokenInvalid,
    create_token,
    decode_token,
    generate_password,
    load_secret_key,
)
from utils.settings import Settings

KEY = "a-signing-key-for-tests"


def _token(**claims) -> str:
    return jwt.encode(claims, KEY, algorithm=ALGORITHM)


def test_a_password_hash_verifies_that_password_only():
    hasher = PasswordHasher(memory_kib=1024)
    hashed = hasher.hash("correct horse")
    assert hashed.startswith("$argon2")
    assert hasher.verify("correct horse", hashed)
    assert not hasher.verify("correct horsE", hashed)
    # a user without a password hash is refused with a bool, like a wrong password
    assert hasher.verify("correct horse", None) is False
    assert hasher.verify("correct horse", "") is False


def test_generated_passwords_are_long_and_differ():
    passwords = {generate_password() for _ in range(20)}
    assert len(passwords) == 20 and min(map(len, passwords)) >= 16


def test_the_signing_key_is_made_once_private_and_kept(tmp_path):
    settings = Settings(data_dir=tmp_path / "data", secret_key=None)
    key = load_secret_key(settings)
    assert len(key) >= 40
    path = tmp_path / "data" / "secret_key"
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert load_secret_key(settings) == key
    assert load_secret_key(Settings(data_dir=tmp_path, secret_key="given")) == "given"
    path.write_text("  \n")
    with pytest.raises(RuntimeError, match="empty"):
        load_secret_key(settings)


def test_a_signing_key_that_cannot_be_made_names_the_reason_and_the_fix(tmp_path):
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    with pytest.raises(RuntimeError) as raised:
        load_secret_key(Settings(data_dir=blocked, secret_key=None))
    message = str(raised.value)
    assert f"{blocked / 'secret_key'} (File exists)" in message  # strerror, no errno
    assert "set SECRET_KEY" in message and str(blocked) in message


def test_a_token_carries_its_claims_and_lifetime():
    issued = datetime.now(UTC).replace(microsecond=0)
    token = create_token(
        KEY,
        subject="ana",
        user_id="u1",
        scopes=["read"],
        client_id="c1",
        token_version=3,
        minutes=2,
        seconds=5,
        issued_at=issued,
    )
    claims = decode_token(KEY, token)
    assert claims["sub"] == "ana" and claims["uid"] == "u1" and claims["scopes"] == ["read"]
    assert claims["client_id"] == "c1" and claims["ver"] == 3 and "cred" not in claims
    assert claims["iat"] == int(issued.timestamp())
    assert claims["exp"] == int((issued + timedelta(minutes=2, seconds=5)).timestamp())
    by_credential = create_token(
        KEY,
        subject="ana",
        user_id="u1",
        scopes=[],
        client_id=None,
        token_version=0,
        minutes=1,
        credential_id="okc_1",
        credential_version=4,
    )
    claims = decode_token(KEY, by_credential)
    assert claims["cred"] == "okc_1" and claims["cver"] == 4


def test_an_expired_or_foreign_token_is_invalid():
    past = datetime.now(UTC) - timedelta(hours=1)
    expired = create_token(
        KEY,
        subject="a",
        user_id="u",
        scopes=[],
        client_id=None,
        token_version=0,
        minutes=1,
        issued_at=past,
    )
    with pytest.raises(TokenInvalid, match="expired"):
        decode_token(KEY, expired)
    fresh = create_token(
        KEY, subject="a", user_id="u", scopes=[], client_id=None, token_version=0, minutes=1
    )
    with pytest.raises(TokenInvalid):
        decode_token("another-key", fresh)
    with pytest.raises(TokenInvalid):
        decode_token(KEY, "not.a.token")


@pytest.mark.parametrize(
    "claims",
    [
        {"scopes": ["read"], "exp": 2**40},
        {"sub": "admin", "exp": 2**40},
        {"sub": "admin", "scopes": ["read"]},
        {"sub": 7, "scopes": ["read"], "exp": 2**40},
        {"sub": "admin", "scopes": "admin", "exp": 2**40},
        {"sub": "admin", "scopes": ["read"], "exp": "never"},
    ],
)
def test_a_token_signed_right_but_lacking_a_claim_is_invalid(claims):
    with pytest.raises(TokenInvalid):
        decode_token(KEY, _token(**claims))


@pytest.mark.parametrize("missing", ["sub", "scopes", "exp"])
def test_the_api_answers_401_to_a_server_signed_token_lacking_a_claim(client, missing):
    claims = {"sub": "admin", "uid": "x", "scopes": ["admin"], "ver": 0, "exp": 2**40}
    del claims[missing]
    token = jwt.encode(claims, client.app.state.secret_key, algorithm=ALGORITHM)
    response = client.get("/api/users/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401, response.text


def test_expiry_is_checked_on_every_use_of_a_remembered_token(monkeypatch):
    token = create_token(
        KEY, subject="a", user_id="u", scopes=[], client_id=None, token_version=0, seconds=30
    )
    assert decode_token(KEY, token)["sub"] == "a"
    later = time.time() + 31
    monkeypatch.setattr(time, "time", lambda: later)
    with pytest.raises(TokenInvalid, match="expired"):
        decode_token(KEY, token)


def test_a_user_without_a_hash_still_costs_one_hash_check(monkeypatch):
    """Unknown names must not answer faster than wrong passwords: the refusal runs a dummy
    check of the same cost."""
    hasher = PasswordHasher(memory_kib=1024)
    checks = []
    real = hasher._context.dummy_verify
    monkeypatch.setattr(hasher._context, "dummy_verify", lambda: checks.append(real()))
    assert hasher.verify("correct horse", None) is False
    assert len(checks) == 1


def test_generated_passwords_hold_120_random_bits():
    password = generate_password()
    assert len(password) == 20  # 15 bytes, URL-safe base64
    assert set(password) <= set(string.ascii_letters + string.digits + "-_")


def test_the_signing_key_is_made_in_an_existing_data_dir_leaving_no_draft(tmp_path):
    (tmp_path / "other").write_text("kept")
    key = load_secret_key(Settings(data_dir=tmp_path, secret_key=None))
    assert (tmp_path / "secret_key").read_text().strip() == key
    assert sorted(os.listdir(tmp_path)) == ["other", "secret_key"]


def test_the_signing_key_is_made_under_a_data_dir_not_yet_created(tmp_path):
    settings = Settings(data_dir=tmp_path / "var" / "oktopus", secret_key=None)
    key = load_secret_key(settings)
    assert (tmp_path / "var" / "oktopus" / "secret_key").read_text().strip() == key


def test_a_token_expires_at_its_exp_not_a_second_later(monkeypatch):
    """RFC 7519: a token is valid only before its `exp`; its lifetime is the seconds asked."""
    issued = datetime.now(UTC).replace(microsecond=0)
    token = create_token(
        KEY,
        subject="a",
        user_id="u",
        scopes=[],
        client_id=None,
        token_version=0,
        seconds=30,
        issued_at=issued,
    )
    claims = decode_token(KEY, token)
    assert claims["exp"] - claims["iat"] == 30
    for now, valid in (
        (claims["exp"] - 0.25, True),
        (claims["exp"], False),
        (claims["exp"] + 0.5, False),
    ):
        monkeypatch.setattr(time, "time", lambda now=now: now)
        if valid:
            assert decode_token(KEY, token)["sub"] == "a"
        else:
            with pytest.raises(TokenInvalid, match="expired"):
                decode_token(KEY, token)


def test_a_token_given_only_its_minutes_or_credential_defaults_the_rest():
    """Minutes alone give that many minutes; a credential's token without a version carries
    0, the version of a credential never revoked."""
    token = create_token(
        KEY,
        subject="a",
        user_id="u",
        scopes=[],
        client_id=None,
        token_version=0,
        minutes=1,
        credential_id="okc_1",
    )
    claims = decode_token(KEY, token)
    assert claims["exp"] - claims["iat"] == 60
    assert claims["cver"] == 0


def test_a_hasher_made_without_a_memory_cost_uses_64_mib():
    """argon2's memory cost is what makes a stolen hash slow to crack: 64 MiB unless told."""
    hashed = PasswordHasher().hash("correct horse")
    assert "$m=65536," in hashed
    assert PasswordHasher().verify("correct horse", hashed)


def test_a_generated_signing_key_holds_384_random_bits(tmp_path):
    key = load_secret_key(Settings(data_dir=tmp_path, secret_key=None))
    assert len(key) == 64  # 48 bytes, URL-safe base64
    assert set(key) <= set(string.ascii_letters + string.digits + "-_")
    assert load_secret_key(Settings(data_dir=tmp_path / "other", secret_key=None)) != key
