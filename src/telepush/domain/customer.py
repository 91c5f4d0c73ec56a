"""Customers: where each service is pushed, how pushes authenticate, which status means accepted.

The configuration models parse the API's camelCase JSON (and the same shape from TOML files);
a bad field is reported by its camelCase path, e.g. ``services.trip.url``.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
)
from pydantic.alias_generators import to_camel

from telepush.domain.policy import RetryPolicy, default_policy
from telepush.errors import InvalidInput
from telepush.services import CATALOGUE, SERVICE_NAMES

CUSTOMER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def check_customer_id(customer_id: str) -> str:
    if not CUSTOMER_ID.match(customer_id):
        raise InvalidInput(
            "customerId must be 1-128 characters of letters, digits, '.', '_' or '-', "
            "starting with a letter or digit",
            field="customerId",
        )
    return customer_id


def https_url(value: str) -> str:
    """Accept only absolute https:// URLs with a host."""
    parts = urlsplit(value.strip())
    if parts.scheme.lower() == "http":
        raise ValueError(
            "plain http:// is refused: pushes carry personal data and need HTTPS "
            "(TLS 1.2 or newer); use an https:// URL"
        )
    if parts.scheme.lower() != "https" or not parts.hostname:
        raise ValueError("expected an absolute https:// URL such as https://example.com/push/trip")
    if parts.username or parts.password:
        raise ValueError("credentials in the URL are refused; configure them under 'auth'")
    return value.strip()


HttpsUrl = Annotated[str, Field(max_length=2048)]


class _Model(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", str_strip_whitespace=True
    )


def _both_renew_statuses() -> list[Literal[401, 403]]:
    return [401, 403]


class OAuth2Auth(_Model):
    """OAuth2 client credentials: Basic auth to the token endpoint, bearer token on pushes."""

    type: Literal["oauth2"]
    url: HttpsUrl
    client_id: str = Field(min_length=1)
    client_secret: SecretStr
    headers: dict[str, str] = Field(default_factory=dict)
    params: dict[str, str] = Field(default_factory=dict)
    renew_on: list[Literal[401, 403]] = Field(default_factory=_both_renew_statuses)

    @field_validator("url")
    @classmethod
    def _https(cls, value: str) -> str:
        return https_url(value)

    @field_validator("client_secret")
    @classmethod
    def _secret(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value():
            raise ValueError("must not be empty")
        return value


class BasicAuth(_Model):
    """HTTP Basic auth on every push."""

    type: Literal["basic"]
    username: str = Field(min_length=1)
    password: SecretStr

    @field_validator("password")
    @classmethod
    def _password(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value():
            raise ValueError("must not be empty")
        return value


AuthConfig = Annotated[OAuth2Auth | BasicAuth, Field(discriminator="type")]


class ServiceConfig(_Model):
    url: HttpsUrl
    enabled: bool = True
    retry: dict[str, Any] | None = None

    @field_validator("url")
    @classmethod
    def _https(cls, value: str) -> str:
        return https_url(value)


class CustomerConfig(_Model):
    """The body of ``PUT /v1/customers/{customerId}`` (and of ``customers apply`` files)."""

    name: str = Field(min_length=1, max_length=200)
    auth: AuthConfig
    services: dict[str, ServiceConfig] = Field(min_length=1)
    accepted_status: Literal["200", "2xx"] = "200"

    @field_validator("services")
    @classmethod
    def _known_services(cls, value: dict[str, ServiceConfig]) -> dict[str, ServiceConfig]:
        # InvalidInput (not ValueError) escapes pydantic, so the exact field is named.
        for name, service in value.items():
            if name not in CATALOGUE:
                raise InvalidInput(
                    f"services.{name}: unknown service; known services: {', '.join(SERVICE_NAMES)}",
                    field=f"services.{name}",
                )
            if service.retry is not None:
                try:
                    RetryPolicy.from_shape(service.retry, default_policy(name))
                except ValidationError as exc:
                    inner = invalid_from(exc, prefix=f"services.{name}.retry")
                    raise inner from None
        return value

    @classmethod
    def parse(cls, data: Any) -> CustomerConfig:
        """Validate ``data``; raise ``InvalidInput`` naming the first bad field."""
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise invalid_from(exc) from None

    def public(self) -> dict[str, Any]:
        """The configuration as the API shows it: camelCase, secrets left out."""
        data = self.model_dump(by_alias=True, mode="json")
        data["auth"].pop("clientSecret", None)
        data["auth"].pop("password", None)
        return data

    def with_secrets(self) -> dict[str, Any]:
        """The whole configuration, secrets in clear: only for the store to encrypt."""
        data = self.model_dump(by_alias=True, mode="json")
        auth = self.auth
        if isinstance(auth, OAuth2Auth):
            data["auth"]["clientSecret"] = auth.client_secret.get_secret_value()
        else:
            data["auth"]["password"] = auth.password.get_secret_value()
        return data

    def retry_policy(self, service: str) -> RetryPolicy:
        """The service's policy for this customer: catalogue default, then overrides."""
        base = default_policy(service)
        override = self.services[service].retry if service in self.services else None
        return RetryPolicy.from_shape(override, base) if override else base


_TAGS = {"oauth2", "basic"}


def invalid_from(exc: ValidationError, prefix: str = "") -> InvalidInput:
    """An ``InvalidInput`` naming the first bad field by its camelCase path."""
    err = exc.errors(include_url=False)[0]
    loc = [str(p) for p in err["loc"]]
    if len(loc) > 1 and loc[0] == "auth" and loc[1] in _TAGS:
        del loc[1]  # the discriminator's tag is not a field
    field = ".".join(([prefix] if prefix else []) + loc)
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "missing":
        msg = "is required"
    elif err["type"] == "extra_forbidden":
        msg = "is not a known field"
    elif err["type"] == "union_tag_invalid":
        msg = "type must be 'oauth2' or 'basic'"
    return InvalidInput(f"{field}: {msg}", field=field or None)


class Customer(BaseModel):
    """A configured customer as stored: its id, configuration and revision."""

    model_config = ConfigDict(frozen=True)

    customer_id: str
    config: CustomerConfig
    revision: int = 1
    created_at: datetime
    updated_at: datetime

    def public(self) -> dict[str, Any]:
        return {
            "customerId": self.customer_id,
            **self.config.public(),
            "revision": self.revision,
            "createdAt": self.created_at.isoformat(),
            "updatedAt": self.updated_at.isoformat(),
        }
