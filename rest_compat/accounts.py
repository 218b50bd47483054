"""REST translation of dashboard sign-in: login and refresh."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import Response

from resolvers import accounts
from resolvers.context import Context
from resolvers.validation import parse_input
from rest_compat.envelope import data_response
from rest_compat.request import json_body
from rest_compat.table import Endpoint


class LoginInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: str = Field(max_length=320)
    password: str = Field(max_length=1024)


class RefreshInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    refresh_token: str = Field(max_length=512)


async def login(request: Request, ctx: Context) -> Response:
    body = parse_input(LoginInput, await json_body(request))
    tokens = await accounts.login(ctx.db, ctx.settings, email=body.email, password=body.password)
    return data_response(tokens)


async def refresh(request: Request, ctx: Context) -> Response:
    body = parse_input(RefreshInput, await json_body(request))
    return data_response(await accounts.refresh(ctx.db, ctx.settings, refresh_token=body.refresh_token))


ENDPOINTS = (
    Endpoint("POST", "/auth/login", None, login, "Sign in; returns an access and a refresh token", "Auth",
             body=LoginInput),
    Endpoint("POST", "/auth/refresh", None, refresh, "Rotate a refresh token for a new pair", "Auth",
             body=RefreshInput),
)  # fmt: skip
