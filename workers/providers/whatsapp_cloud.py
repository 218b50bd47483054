"""WhatsApp through Meta's Cloud API: `POST /{version}/{phone-number-id}/messages` on the Graph API.

Channel config keys: `phone_number_id`, `access_token` (Bearer), `api_version` (default: the
settings'), `language` (template language code, default "en"), `timeout` (seconds). A message
with a template key goes out as that (Meta-approved) template, its body parameters being the
message's variables in order; any other as a text message.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from gateway.settings import Settings
from resolvers.delivery import Outgoing
from workers.providers.base import Accepted, ProviderError
from workers.providers.http import ApiClient, json_object, timeout_of

# Error codes Meta answers with HTTP 400 that mean "not now" rather than "never": API and
# service unavailability, and the application, account, throughput and pair rate limits.
TRANSIENT_CODES = frozenset({1, 2, 4, 17, 341, 80007, 130429, 131000, 131016, 131056, 133004})


class WhatsAppCloudProvider:
    name = "whatsapp_cloud"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.client = ApiClient("whatsapp", timeout=settings.provider_timeout_seconds)

    async def send(self, message: Outgoing) -> Accepted:
        """Sends the message; `messages[0].id` (a wamid) is the provider message id."""
        config = message.config
        phone_number_id, token = config.get("phone_number_id"), config.get("access_token")
        if not phone_number_id or not isinstance(token, str) or not token:
            raise ProviderError("whatsapp_config", "phone_number_id and access_token needed", transient=False)
        version = str(config.get("api_version") or self.settings.graph_api_version)
        base = self.settings.graph_api_base_url.rstrip("/")
        response = await self.client.request(
            "POST",
            f"{base}/{quote(version, safe='')}/{quote(str(phone_number_id), safe='')}/messages",
            json=payload(message),
            headers={"Authorization": f"Bearer {token}"},
            seconds=timeout_of(config),
        )
        body = json_object(response)
        if response.status_code == 200:
            messages = body.get("messages")
            first = messages[0] if isinstance(messages, list) and messages else None
            wamid = first.get("id") if isinstance(first, dict) else None
            if not isinstance(wamid, str) or not wamid:
                # Meta may have taken it: failing beats sending it twice on a retry.
                raise ProviderError("whatsapp_bad_response", "no message id in the answer", transient=False)
            return Accepted(provider_message_id=wamid)
        raise _refusal(response.status_code, body)

    async def aclose(self) -> None:
        await self.client.aclose()


def payload(message: Outgoing) -> dict[str, Any]:
    """The Cloud API message object: a template message, or a text message."""
    base = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": message.to.lstrip("+")}
    if not message.template_key:
        return base | {"type": "text", "text": {"preview_url": False, "body": message.body}}
    template: dict[str, Any] = {
        "name": message.template_key,
        "language": {"code": str(message.config.get("language") or "en")},
    }
    if message.variables:
        parameters = [{"type": "text", "text": str(value)} for value in message.variables.values()]
        template["components"] = [{"type": "body", "parameters": parameters}]
    return base | {"type": "template", "template": template}


def _refusal(status: int, body: dict[str, Any]) -> ProviderError:
    """Meta's error object (`message`, `type`, `code`, `error_subcode`, `error_data`, `fbtrace_id`)."""
    error = body.get("error")
    error = error if isinstance(error, dict) else {}
    code = error.get("code")
    details = error.get("error_data")
    text = (details.get("details") if isinstance(details, dict) else None) or error.get("message")
    transient = status == 429 or status >= 500 or (isinstance(code, int) and code in TRANSIENT_CODES)
    return ProviderError(
        str(code) if code is not None else f"whatsapp_http_{status}",
        str(text or f"the Graph API answered HTTP {status}"),
        transient=transient,
    )
