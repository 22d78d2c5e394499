"""GoTrue, Supabase's auth server, as far as Rastar's clients use it: password sign-in, refresh
token rotation with its reuse interval, sign-out, the user, and the HS256 access tokens that
PostgREST then checks.

Refresh tokens rotate: each refresh spends the token it was given and answers a new one. A
spent token presented again within the reuse interval answers the session's current refresh
token (a client that lost an answer can recover); after it, GoTrue takes it for a stolen token:
it refuses it and ends the whole session, so every refresh token of that sign-in is refused
from then on. Newer GoTrue also always honours the token spent last (the parent of the current
one); ``reuse_rule="parent"`` turns that on.

Errors come in the shapes GoTrue has used: ``{"code": 400, "error_code", "msg"}`` (since error
codes), ``{"code": "<error_code>", "message"}`` when the request says
``X-Supabase-Api-Version: 2024-01-01`` (as supabase-auth does; the header is echoed back), and
``{"error": "invalid_grant", "error_description"}`` on older servers (``error_shape="old"``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

SECRET = b"fake-supabase-jwt-secret-not-for-production-use"
KEY_ID = "fake-hs256"
API_VERSION_HEADER = "X-Supabase-Api-Version"
API_VERSION_2024 = "2024-01-01"
APP_METADATA = {"provider": "email", "providers": ["email"]}
INVALID_LOGIN = "Invalid login credentials"
NOT_FOUND = "Invalid Refresh Token: Refresh Token Not Found"
ALREADY_USED = "Invalid Refresh Token: Already Used"


# --- JWT ---------------------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(signing_input: str) -> bytes:
    return hmac.new(SECRET, signing_input.encode(), hashlib.sha256).digest()


def sign(claims: dict[str, Any]) -> str:
    """An HS256 JWT signed with the fake's secret, as GoTrue signs with the project's."""
    header = _b64(json.dumps({"alg": "HS256", "kid": KEY_ID, "typ": "JWT"}).encode())
    payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
    return f"{header}.{payload}.{_b64(_signature(f'{header}.{payload}'))}"


class JwtProblem(Exception):
    """Why a token is refused: ``empty``, ``parts`` (with how many), ``key`` (undecodable or
    signed with another key), ``claims`` (unparseable), ``exp_type`` or ``expired``."""

    def __init__(self, kind: str, parts: int = 3) -> None:
        super().__init__(kind)
        self.kind, self.parts = kind, parts


def decode(token: str, now: float, skew_seconds: float) -> dict[str, Any]:
    """The claims of a token this fake signed, checked as PostgREST checks them: the shape,
    the signature, then ``exp`` (allowing ``skew_seconds`` of clock skew)."""
    if not token:
        raise JwtProblem("empty")
    parts = token.split(".")
    if len(parts) != 3:
        raise JwtProblem("parts", len(parts))
    try:
        header = json.loads(_unb64(parts[0]))
        signature = _unb64(parts[2])
    except ValueError as exc:
        raise JwtProblem("key") from exc
    expected = _signature(f"{parts[0]}.{parts[1]}")
    if header.get("alg") != "HS256" or not hmac.compare_digest(signature, expected):
        raise JwtProblem("key")
    try:
        claims = json.loads(_unb64(parts[1]))
    except ValueError as exc:
        raise JwtProblem("claims") from exc
    if not isinstance(claims, dict):
        raise JwtProblem("claims")
    exp = claims.get("exp")  # optional, as PostgREST has it; a number when present
    if exp is not None and (isinstance(exp, bool) or not isinstance(exp, int | float)):
        raise JwtProblem("exp_type")
    if exp is not None and exp < now - skew_seconds:
        raise JwtProblem("expired")
    return claims


# --- errors ------------------------------------------------------------------------------------


class AuthError(Exception):
    """A refusal by GoTrue. ``oauth`` names an OAuth error that every GoTrue answers as
    ``{"error", "error_description"}``; ``legacy`` marks what old GoTrue answered as
    ``invalid_grant`` (the token grants) rather than ``{"code", "msg"}``."""

    def __init__(
        self,
        status: int,
        error_code: str,
        message: str,
        *,
        oauth: str | None = None,
        legacy: bool = False,
    ) -> None:
        super().__init__(message)
        self.status, self.error_code, self.message = status, error_code, message
        self.oauth, self.legacy = oauth, legacy

    def body(self, shape: str, api_version: str | None) -> dict[str, Any]:
        """The answer's JSON in the shape the server version and the request call for."""
        if self.oauth is not None:
            described = {"error_description": self.message} if self.message else {}
            return {"error": self.oauth, **described}
        if shape == "old":
            if self.legacy:
                return {"error": "invalid_grant", "error_description": self.message}
            return {"code": self.status, "msg": self.message}
        if api_version is not None and api_version >= API_VERSION_2024:
            return {"code": self.error_code, "message": self.message}
        return {"code": self.status, "error_code": self.error_code, "msg": self.message}


def _refused(error_code: str, message: str) -> AuthError:
    return AuthError(400, error_code, message, legacy=True)


# --- state -------------------------------------------------------------------------------------


def _go_time(moment: datetime) -> str:
    """A time as Go's encoding/json writes it (RFC 3339, UTC, with its fraction)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class Account:
    id: str
    email: str
    password: str
    created_at: str
    last_sign_in_at: str | None = None


@dataclass
class _Session:
    id: str
    user_id: str
    signed_in_at: int
    active: str = ""  # the refresh token not yet spent


@dataclass
class _Refresh:
    session_id: str
    parent: str | None
    spent_at: float | None = None


@dataclass(frozen=True)
class Policy:
    """The knobs a grant reads, fixed for the length of one request."""

    ttl_seconds: int
    reuse_interval_seconds: float
    reuse_rule: str  # "interval" or "parent"
    issuer: str


@dataclass
class GoTrue:
    """Accounts, sessions and refresh tokens. Not thread-safe on its own: the server calls it
    under its lock."""

    accounts: dict[str, Account] = field(default_factory=dict)  # by lowercased email
    refreshes: dict[str, int] = field(default_factory=dict)  # refresh calls by email
    refused: int = 0
    _by_id: dict[str, Account] = field(default_factory=dict)
    _sessions: dict[str, _Session] = field(default_factory=dict)
    _tokens: dict[str, _Refresh] = field(default_factory=dict)
    _issued: set[str] = field(default_factory=set)
    _expired: set[str] = field(default_factory=set)

    def add_account(self, email: str, password: str) -> Account:
        key = email.strip().lower()
        if key in self.accounts:
            raise ValueError(f"an account for {email!r} exists already")
        account = Account(str(uuid.uuid4()), key, password, _go_time(datetime.now(UTC)))
        self.accounts[key] = account
        self._by_id[account.id] = account
        return account

    # the grants ------------------------------------------------------------------------------

    def grant(self, grant_type: str, raw: bytes, now: float, policy: Policy) -> dict[str, Any]:
        """``POST /token?grant_type=``: a session for a password or a refresh token."""
        if grant_type not in ("password", "refresh_token"):
            raise AuthError(400, "unsupported_grant_type", "", oauth="unsupported_grant_type")
        body = _json_object(raw)
        if grant_type == "password":
            return self._password(body, now, policy)
        return self._refresh(body, now, policy)

    def _password(self, body: dict[str, Any], now: float, policy: Policy) -> dict[str, Any]:
        email, password = body.get("email"), body.get("password")
        if not isinstance(email, str | None) or not isinstance(password, str | None):
            raise AuthError(400, "bad_json", "Could not parse request body as JSON: bad field type")
        if not email and not body.get("phone"):
            raise AuthError(400, "validation_failed", "missing email or phone")
        account = self.accounts.get((email or "").strip().lower())
        if account is None or not hmac.compare_digest(account.password, password or ""):
            raise _refused("invalid_credentials", INVALID_LOGIN)
        account.last_sign_in_at = _go_time(datetime.fromtimestamp(now, UTC))
        session = _Session(str(uuid.uuid4()), account.id, int(now))
        self._sessions[session.id] = session
        session.active = self._new_refresh(session, None)
        return self._answer(account, session, now, policy)

    def _refresh(self, body: dict[str, Any], now: float, policy: Policy) -> dict[str, Any]:
        token = body.get("refresh_token")
        if not isinstance(token, str) or not token:
            raise AuthError(
                400, "validation_failed", "refresh_token required", oauth="invalid_request"
            )
        record = self._tokens.get(token)
        session = self._sessions.get(record.session_id) if record else None
        if record is None or session is None:
            self.refused += 1
            raise _refused("refresh_token_not_found", NOT_FOUND)
        account = self._by_id[session.user_id]
        self.refreshes[account.email] = self.refreshes.get(account.email, 0) + 1
        if record.spent_at is None:
            record.spent_at = now
            session.active = self._new_refresh(session, token)
        elif not self._reusable(token, record, session, now, policy):
            self._end(session)
            self.refused += 1
            raise _refused("refresh_token_already_used", ALREADY_USED)
        return self._answer(account, session, now, policy)

    def _reusable(
        self, token: str, record: _Refresh, session: _Session, now: float, policy: Policy
    ) -> bool:
        """A spent token is honoured within the reuse interval (and, under the ``parent`` rule,
        always when it is the one spent last): the answer is the session's current token."""
        assert record.spent_at is not None
        if policy.reuse_rule == "parent" and self._tokens[session.active].parent == token:
            return True
        return now <= record.spent_at + policy.reuse_interval_seconds

    def _new_refresh(self, session: _Session, parent: str | None) -> str:
        token = secrets.token_urlsafe(9)  # 12 characters, as GoTrue's are
        self._tokens[token] = _Refresh(session.id, parent)
        return token

    def _end(self, session: _Session) -> None:
        """Log the session out: every refresh token of it is then unknown."""
        self._sessions.pop(session.id, None)
        for token in [key for key, value in self._tokens.items() if value.session_id == session.id]:
            del self._tokens[token]

    def _answer(
        self, account: Account, session: _Session, now: float, policy: Policy
    ) -> dict[str, Any]:
        issued_at = int(now)
        expires_at = issued_at + policy.ttl_seconds
        claims = {
            "iss": policy.issuer,
            "sub": account.id,
            "aud": "authenticated",
            "exp": expires_at,
            "iat": issued_at,
            "email": account.email,
            "phone": "",
            "app_metadata": APP_METADATA,
            "user_metadata": {},
            "role": "authenticated",
            "aal": "aal1",
            "amr": [{"method": "password", "timestamp": session.signed_in_at}],
            "session_id": session.id,
            "is_anonymous": False,
        }
        token = sign(claims)
        # The same claims in the same second sign to the same token (as GoTrue's would): one
        # issued anew is live again, whatever ``expire_access_tokens`` said of its twin.
        self._expired.discard(token)
        self._issued.add(token)
        return {
            "access_token": token,
            "token_type": "bearer",
            "expires_in": policy.ttl_seconds,
            "expires_at": expires_at,
            "refresh_token": session.active,
            "user": self.user_json(account),
        }

    # what tests do to it ------------------------------------------------------------------

    def revoke(self, email: str) -> None:
        """End every session of the account (as an admin sign-out does)."""
        account = self.accounts[email.strip().lower()]
        for session in [s for s in self._sessions.values() if s.user_id == account.id]:
            self._end(session)

    def expire_access_tokens(self) -> None:
        """Every access token issued so far is from now on expired, whatever its ``exp``."""
        self._expired |= self._issued
        self._issued = set()

    def claims(self, token: str, now: float, skew_seconds: float) -> dict[str, Any]:
        if token in self._expired:
            raise JwtProblem("expired")
        return decode(token, now, skew_seconds)

    # the endpoints that need a signed-in user ----------------------------------------------

    def authenticate(self, authorization: str | None, now: float) -> tuple[Account, str]:
        """The account and session of a request's bearer token, as GoTrue's
        ``requireAuthentication`` decides (no clock skew allowed there)."""
        token = _bearer(authorization)
        if token is None:
            raise AuthError(401, "no_authorization", "This endpoint requires a valid Bearer token")
        try:
            claims = self.claims(token, now, 0)
        except JwtProblem as exc:
            reason = "token is expired" if exc.kind == "expired" else "token is malformed"
            raise AuthError(
                403, "bad_jwt", f"invalid JWT: unable to parse or verify signature, {reason}"
            ) from exc
        account = self._by_id.get(str(claims.get("sub")))
        if account is None:
            raise AuthError(403, "user_not_found", "User from sub claim in JWT does not exist")
        session_id = str(claims.get("session_id"))
        if session_id not in self._sessions:
            raise AuthError(
                403, "session_not_found", "Session from session_id claim in JWT does not exist"
            )
        return account, session_id

    def logout(self, authorization: str | None, scope: str, now: float) -> None:
        """``POST /logout?scope=global|local|others``: end those sessions (204)."""
        if scope not in ("global", "local", "others"):
            raise AuthError(400, "validation_failed", "Unsupported logout scope")
        account, current = self.authenticate(authorization, now)
        for session in [s for s in self._sessions.values() if s.user_id == account.id]:
            if scope == "global" or (scope == "local") == (session.id == current):
                self._end(session)

    def user_json(self, account: Account) -> dict[str, Any]:
        """The user as GoTrue writes it (and supabase-auth's ``User`` model reads it)."""
        identity = {
            "identity_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"identity:{account.id}")),
            "id": account.id,
            "user_id": account.id,
            "identity_data": {
                "email": account.email,
                "email_verified": False,
                "phone_verified": False,
                "sub": account.id,
            },
            "provider": "email",
            "last_sign_in_at": account.created_at,
            "created_at": account.created_at,
            "updated_at": account.created_at,
            "email": account.email,
        }
        return {
            "id": account.id,
            "aud": "authenticated",
            "role": "authenticated",
            "email": account.email,
            "email_confirmed_at": account.created_at,
            "phone": "",
            "confirmed_at": account.created_at,
            "last_sign_in_at": account.last_sign_in_at,
            "app_metadata": APP_METADATA,
            "user_metadata": {},
            "identities": [identity],
            "created_at": account.created_at,
            "updated_at": account.last_sign_in_at or account.created_at,
            "is_anonymous": False,
        }


def _bearer(authorization: str | None) -> str | None:
    scheme, _, token = (authorization or "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def _json_object(raw: bytes) -> dict[str, Any]:
    """The body as GoTrue's handlers read it: a JSON object, else ``bad_json``."""
    try:
        body = json.loads(raw or b"{}")
    except ValueError as exc:
        raise AuthError(400, "bad_json", f"Could not parse request body as JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise AuthError(400, "bad_json", "Could not parse request body as JSON: not an object")
    return body
