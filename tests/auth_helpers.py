"""What the login and token tests share: the auth routes, and logging in by the raw form."""

from __future__ import annotations

from fastapi.testclient import TestClient

TOKEN = "/api/auth/token"
ACCOUNT = "/api/auth/account"
LOGOUT = "/api/auth/logout"
CREDENTIALS = "/api/users/me/credentials"


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _password_token(client: TestClient, username: str, password: str, **form: str):
    return client.post(TOKEN, data={"username": username, "password": password, **form})
