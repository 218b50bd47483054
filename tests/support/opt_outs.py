"""Opt-out helpers: Twilio inbound messages signed as Twilio documents it, a tenant with a Twilio
number, and sends and contact opt-outs over REST and over their GraphQL twins."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from urllib.parse import urlencode

import httpx

from gateway.db import Database
from gateway.tables import Integration
from tests.support.twins import GraphQLTwin, Outcome, RestTwin

INBOUND = "/api/v1/providers/twilio/inbound"
SEND = "/api/v1/integrations/messages/send"
OPT_OUT_FIELDS = "channel address source createdAt"


@dataclass(frozen=True)
class TwilioNumber:
    account_sid: str
    auth_token: str
    number: str


def twilio_signature(url: str, params: dict[str, str], token: str) -> str:
    """The URL, then each POST parameter sorted by name as name+value; HMAC-SHA1 keyed by the AuthToken."""
    payload = url + "".join(name + params[name] for name in sorted(params))
    return base64.b64encode(hmac.new(token.encode(), payload.encode(), hashlib.sha1).digest()).decode()


def new_twilio_number() -> TwilioNumber:
    return TwilioNumber("AC" + secrets.token_hex(16), secrets.token_hex(16), "+14155550123")


async def add_twilio_number(db: Database, tenant_id: int, number: TwilioNumber) -> None:
    """A second (not default) integration whose SMS goes through this Twilio account and number."""
    config = {"provider": "twilio", "account_sid": number.account_sid, "auth_token": number.auth_token,
              "sender": number.number}  # fmt: skip
    async with db.sessions() as session:
        session.add(
            Integration(tenant_id=tenant_id, name="Twilio", channels={"sms": config}, is_default=False)
        )
        await session.commit()


async def inbound(
    client: httpx.AsyncClient, number: TwilioNumber, sender: str, body: str, *, token: str | None = None
) -> httpx.Response:
    """An incoming SMS as Twilio posts it to the messaging webhook, signed with `token` (the account's)."""
    params = {"AccountSid": number.account_sid, "ApiVersion": "2010-04-01", "Body": body, "From": sender,
              "MessageSid": "SM" + secrets.token_hex(16), "NumMedia": "0", "NumSegments": "1",
              "SmsSid": "SM" + secrets.token_hex(16), "SmsStatus": "received", "To": number.number,
              "FromCountry": "RO", "ToCountry": "US"}  # fmt: skip
    signature = twilio_signature("http://testserver" + INBOUND, params, token or number.auth_token)
    headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature}
    return await client.post(INBOUND, content=urlencode(params), headers=headers)


class RestOptOuts(RestTwin):
    """Sends and a contact's opt-outs over REST."""

    async def send(self, headers: dict[str, str], channel: str, to: str, body: str) -> Outcome:
        payload = {"channel": channel, "to": to, "body": body}
        return self._outcome(await self.http.post(SEND, json=payload, headers=headers), expect=202)

    async def opt_outs(self, headers: dict[str, str], contact_id: int) -> Outcome:
        url = f"/api/v1/integrations/contacts/{contact_id}/opt-outs"
        return self._outcome(await self.http.get(url, headers=headers))

    async def opt_out(self, headers: dict[str, str], contact_id: int, channel: str) -> Outcome:
        url = f"/api/v1/integrations/contacts/{contact_id}/opt-outs"
        return self._outcome(await self.http.post(url, json={"channel": channel}, headers=headers))

    async def opt_in(self, headers: dict[str, str], contact_id: int, channel: str) -> Outcome:
        url = f"/api/v1/integrations/contacts/{contact_id}/opt-outs/{channel}"
        return self._outcome(await self.http.delete(url, headers=headers))


class GraphQLOptOuts(GraphQLTwin):
    """The same over GraphQL."""

    async def send(self, headers: dict[str, str], channel: str, to: str, body: str) -> Outcome:
        query = "mutation($input: SendMessageInput!) { sendMessage(input: $input) { id status } }"
        variables = {"input": {"channel": channel, "to": to, "body": body}}
        return await self._run(headers, query, variables, "sendMessage")

    async def opt_outs(self, headers: dict[str, str], contact_id: int) -> Outcome:
        query = f"query($id: Int!) {{ contact(id: $id) {{ optOuts {{ {OPT_OUT_FIELDS} }} }} }}"
        outcome = await self._run(headers, query, {"id": contact_id}, "contact")
        if outcome.ok:
            outcome.data = outcome.data["opt_outs"]
        return outcome

    async def opt_out(self, headers: dict[str, str], contact_id: int, channel: str) -> Outcome:
        return await self._change(headers, "optOutContact", contact_id, channel)

    async def opt_in(self, headers: dict[str, str], contact_id: int, channel: str) -> Outcome:
        return await self._change(headers, "optInContact", contact_id, channel)

    async def _change(self, headers: dict[str, str], mutation: str, contact_id: int, channel: str) -> Outcome:
        query = (
            f"mutation($id: Int!, $channel: String!) {{ {mutation}(id: $id, channel: $channel)"
            f" {{ {OPT_OUT_FIELDS} }} }}"
        )
        return await self._run(headers, query, {"id": contact_id, "channel": channel}, mutation)
