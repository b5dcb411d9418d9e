"""Configuration from environment variables: backend selection and guarded values."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from utils.settings import Settings


def _settings(monkeypatch: pytest.MonkeyPatch, **env: str) -> Settings:
    for name in ("MONGODB_URI", "ADMIN_PASSWORD", "CORS_ORIGINS", "SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Settings(_env_file=None)


def test_defaults(monkeypatch):
    settings = _settings(monkeypatch)
    assert settings.backend == "embedded"
    assert (settings.mongodb_db, settings.admin_username) == ("oktopus", "admin")
    assert settings.access_token_minutes == 60
    assert str(settings.data_dir) == "data"
    assert settings.secret_key is None and settings.admin_password is None


@pytest.mark.parametrize(
    ("uri", "backend"),
    [
        ("", "embedded"),
        ("mongomock://", "mongomock"),
        ("mongodb://mongo:27017", "mongodb"),
        ("mongodb+srv://cluster.example.net/", "mongodb"),
    ],
)
def test_the_uri_selects_the_backend(monkeypatch, uri, backend):
    assert _settings(monkeypatch, MONGODB_URI=uri).backend == backend


def test_an_unknown_uri_scheme_is_refused(monkeypatch):
    with pytest.raises(ValueError, match="MONGODB_URI"):
        _ = _settings(monkeypatch, MONGODB_URI="postgres://db").backend


def test_cors_origins_are_a_comma_separated_list(monkeypatch):
    settings = _settings(monkeypatch, CORS_ORIGINS="https://a.example, https://b.example,")
    assert settings.cors_origins == ["https://a.example", "https://b.example"]


def test_a_short_admin_password_is_refused(monkeypatch):
    with pytest.raises(ValidationError, match="ADMIN_PASSWORD"):
        _settings(monkeypatch, ADMIN_PASSWORD="short")
    assert _settings(monkeypatch, ADMIN_PASSWORD="").admin_password.get_secret_value() == ""
    assert _settings(monkeypatch, ADMIN_PASSWORD="long-enough").admin_password is not None


def test_secrets_do_not_show_in_the_settings_repr(monkeypatch):
    settings = _settings(monkeypatch, ADMIN_PASSWORD="admin-secret-pw", SECRET_KEY="signing-key")
    assert "admin-secret-pw" not in repr(settings)
    assert "signing-key" not in repr(settings)
