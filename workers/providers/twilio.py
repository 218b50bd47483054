"""SMS through Twilio's Messages resource: `POST /2010-04-01/Accounts/{AccountSid}/Messages.json`.

Channel config keys: `account_sid`, `auth_token` (HTTP basic auth), `sender` (the From number or
alphanumeric id) or `messaging_service_sid` (Twilio picks the sender), `timeout` (seconds).
Messages of the platform route use the platform account of the settings instead. Twilio is
asked to report delivery to `{public_base_url}{base_path}/providers/twilio/status` when the
public base URL is configured; a callback that never came is made up for by reading the Message
resource back (`fetch_status`, used by the reconciliation of the sweeper).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from gateway.settings import Settings
from resolvers.delivery import Outgoing
from resolvers.integrations import PLATFORM
from resolvers.message_status import SETTLED, MessageStatus
from resolvers.receipts import TWILIO_STATUS_PATH, TWILIO_STATUSES
from workers.providers.base import Accepted, ProviderError, Receipt
from workers.providers.http import ApiClient, json_object, timeout_of


class TwilioProvider:
    name = "twilio"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.client = ApiClient("twilio", timeout=settings.provider_timeout_seconds)

    async def send(self, message: Outgoing) -> Accepted:
        """Creates the Message resource; its `sid` is the provider message id."""
        account_sid, auth_token = self._credentials(message)
        response = await self.client.request(
            "POST",
            self._messages_url(account_sid) + ".json",
            data=self._form(message),
            auth=(account_sid, auth_token),
            headers={"Accept": "application/json"},
            seconds=timeout_of(message.config),
        )
        body = json_object(response)
        if response.status_code in {200, 201}:
            sid = body.get("sid")
            if not isinstance(sid, str) or not sid:
                # Twilio may have taken it: failing beats sending it twice on a retry.
                raise ProviderError("twilio_bad_response", "Twilio answered without a sid", transient=False)
            return Accepted(provider_message_id=sid)
        raise refusal(response.status_code, body)

    async def fetch_status(self, message: Outgoing, provider_message_id: str) -> Receipt | None:
        """Reads the Message resource back, for a status callback that never came; None until
        Twilio has a settled status (or when it no longer knows the message)."""
        account_sid, auth_token = self._credentials(message)
        url = f"{self._messages_url(account_sid)}/{quote(provider_message_id, safe='')}.json"
        response = await self.client.request(
            "GET", url, auth=(account_sid, auth_token), seconds=timeout_of(message.config)
        )
        body = json_object(response)
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise refusal(response.status_code, body)
        status = TWILIO_STATUSES.get(str(body.get("status")))
        if status not in SETTLED:
            return None
        code = body.get("error_code")
        if code is None or status not in {MessageStatus.FAILED, MessageStatus.UNDELIVERED}:
            return Receipt(status)
        return Receipt(status, str(code), str(body.get("error_message") or f"Twilio error {code}"))

    async def aclose(self) -> None:
        await self.client.aclose()

    def _messages_url(self, account_sid: str) -> str:
        base = self.settings.twilio_api_base_url.rstrip("/")
        return f"{base}/2010-04-01/Accounts/{quote(account_sid, safe='')}/Messages"

    def _credentials(self, message: Outgoing) -> tuple[str, str]:
        if message.route == PLATFORM:
            account_sid, auth_token = self.settings.twilio_account_sid, self.settings.twilio_auth_token
        else:
            account_sid, auth_token = (
                _text(message.config, "account_sid"),
                _text(message.config, "auth_token"),
            )
        if not account_sid or not auth_token:
            raise ProviderError("twilio_config", "account_sid and auth_token are required", transient=False)
        return account_sid, auth_token

    def _form(self, message: Outgoing) -> dict[str, str]:
        form = {"To": message.to, "Body": message.body}
        service = _text(message.config, "messaging_service_sid")
        sender = message.sender or _text(message.config, "sender")
        if service:
            form["MessagingServiceSid"] = service
        elif sender:
            form["From"] = sender
        else:
            raise ProviderError(
                "twilio_config", "a sender or messaging_service_sid is needed", transient=False
            )
        if self.settings.public_base_url:
            base = self.settings.public_base_url.rstrip("/") + self.settings.base_path
            form["StatusCallback"] = base + TWILIO_STATUS_PATH
        return form


def _text(config: dict[str, Any], key: str) -> str | None:
    value = config.get(key)
    return value if isinstance(value, str) and value else None


def refusal(status: int, body: dict[str, Any]) -> ProviderError:
    """Twilio's error resource (`code`, `message`, `more_info`, `status`): too many requests and
    server errors pass, the rest will be refused again the same way."""
    code = body.get("code")
    text = str(body.get("message") or f"Twilio answered HTTP {status}")
    transient = status == 429 or status >= 500
    return ProviderError(str(code) if code else f"twilio_http_{status}", text, transient=transient)
