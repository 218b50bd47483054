"""Stand-ins for the providers' HTTP APIs, served for real (uvicorn on a free port, in a thread).

Each follows the provider's documented request and response formats: Twilio's Messages resource
(basic auth, form fields, a 201 Message resource or a Twilio error resource) and Meta's Graph API
`/{version}/{phone-number-id}/messages` (Bearer token, a JSON message object, Meta's error object).
`fail_for[to]` makes a recipient get a scripted error answer instead.
"""

from __future__ import annotations

import base64
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

TWILIO_ACCOUNT_SID = "AC5ef8732a3c49700934481addd5ce1659"
TWILIO_AUTH_TOKEN = "12345678901234567890123456789012"
WHATSAPP_PHONE_NUMBER_ID = "106540352242922"
WHATSAPP_ACCESS_TOKEN = "EAAJB-test-access-token"


class StubServer:
    """Serves a Starlette app on 127.0.0.1 from a daemon thread until `stop`."""

    def __init__(self, app: Starlette) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def start(self) -> StubServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the stub server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    form: dict[str, str] = field(default_factory=dict)
    json: Any = None


@dataclass
class TwilioStub:
    accounts: dict[str, str]  # AccountSid -> AuthToken
    url: str = ""
    requests: list[Recorded] = field(default_factory=list)
    fail_for: dict[str, tuple[int, dict[str, Any]]] = field(default_factory=dict)
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)  # sid -> Message resource
    calls: list[dict[str, Any]] = field(default_factory=list)  # the Calls created: form (lists kept)

    def app(self) -> Starlette:
        path = "/2010-04-01/Accounts/{account_sid}/Messages"
        return Starlette(
            routes=[
                Route(path + ".json", self.create_message, methods=["POST"]),
                Route(path + "/{sid}.json", self.fetch_message, methods=["GET"]),
                Route("/2010-04-01/Accounts/{account_sid}/Calls.json", self.create_call, methods=["POST"]),
            ]
        )

    async def create_call(self, request: Request) -> Response:
        """The Calls resource: `To`, `From`, and `Twiml` or `Url` required; answers `queued`."""
        account_sid = request.path_params["account_sid"]
        if _basic_auth(request) != (account_sid, self.accounts.get(account_sid)):
            return twilio_error(401, 20003, "Authenticate")
        form = parse_qs((await request.body()).decode())
        if not form.get("To") or not form.get("From") or not (form.get("Twiml") or form.get("Url")):
            return twilio_error(400, 21205, "To, From and Twiml (or Url) are required")
        sid = "CA" + secrets.token_hex(16)
        self.calls.append({"sid": sid, **form})
        return JSONResponse({"sid": sid, "account_sid": account_sid, "status": "queued", "to": form["To"][0],
                             "from": form["From"][0]}, status_code=201)  # fmt: skip

    async def fetch_message(self, request: Request) -> Response:
        account_sid, sid = request.path_params["account_sid"], request.path_params["sid"]
        if _basic_auth(request) != (account_sid, self.accounts.get(account_sid)):
            return twilio_error(401, 20003, "Authenticate")
        resource = self.messages.get(sid)
        if resource is None or resource["account_sid"] != account_sid:
            return twilio_error(404, 20404, f"The requested resource {request.url.path} was not found")
        return JSONResponse(resource)

    async def create_message(self, request: Request) -> Response:
        account_sid = request.path_params["account_sid"]
        if _basic_auth(request) != (account_sid, self.accounts.get(account_sid)):
            return twilio_error(401, 20003, "Authenticate")
        if request.headers.get("content-type", "").split(";")[0] != "application/x-www-form-urlencoded":
            return twilio_error(400, 20001, "Unsupported content type")
        form = {key: values[-1] for key, values in parse_qs((await request.body()).decode()).items()}
        self.requests.append(Recorded(request.url.path, dict(request.headers), form=form))
        problem = _twilio_problem(form)
        if problem:
            return twilio_error(400, *problem)
        if form["To"] in self.fail_for:
            status, body = self.fail_for[form["To"]]
            return JSONResponse(body, status_code=status)
        resource = _message_resource(account_sid, form)
        self.messages[resource["sid"]] = resource
        return JSONResponse(resource, status_code=201)


def _twilio_problem(form: dict[str, str]) -> tuple[int, str] | None:
    if not form.get("To"):
        return 21604, "A 'To' phone number is required."
    if not form.get("From") and not form.get("MessagingServiceSid"):
        return 21603, "A 'From' phone number is required."
    if not form.get("Body"):
        return 21602, "Message body is required."
    return None


def twilio_error_body(status: int, code: int, message: str) -> dict[str, Any]:
    """Twilio's error resource, as its REST API answers a refused request."""
    return {"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status}  # fmt: skip


def twilio_error(status: int, code: int, message: str) -> JSONResponse:
    return JSONResponse(twilio_error_body(status, code, message), status_code=status)


def _message_resource(account_sid: str, form: dict[str, str]) -> dict[str, Any]:
    sid = "SM" + secrets.token_hex(16)
    now = time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime())
    return {
        "account_sid": account_sid, "api_version": "2010-04-01", "body": form["Body"],
        "date_created": now, "date_sent": None, "date_updated": now, "direction": "outbound-api",
        "error_code": None, "error_message": None, "from": form.get("From"),
        "messaging_service_sid": form.get("MessagingServiceSid"), "num_media": "0", "num_segments": "1",
        "price": None, "price_unit": "USD", "sid": sid,
        "status": "accepted" if form.get("MessagingServiceSid") else "queued",
        "subresource_uris": {"media": f"/2010-04-01/Accounts/{account_sid}/Messages/{sid}/Media.json"},
        "to": form["To"], "uri": f"/2010-04-01/Accounts/{account_sid}/Messages/{sid}.json",
    }  # fmt: skip


def _basic_auth(request: Request) -> tuple[str, str | None] | None:
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    user, _, password = base64.b64decode(credentials).decode().partition(":")
    return user, password


@dataclass
class GraphStub:
    tokens: dict[str, str]  # phone number id -> access token
    url: str = ""
    requests: list[Recorded] = field(default_factory=list)
    fail_for: dict[str, tuple[int, dict[str, Any]]] = field(default_factory=dict)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/{version}/{phone_number_id}/messages", self.send, methods=["POST"])])

    async def send(self, request: Request) -> Response:
        phone_number_id = request.path_params["phone_number_id"]
        if request.headers.get("authorization") != f"Bearer {self.tokens.get(phone_number_id)}":
            return graph_error(401, 190, "Invalid OAuth access token - Cannot parse access token")
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return graph_error(400, 100, "(#100) The request body must be JSON")
        self.requests.append(Recorded(request.url.path, dict(request.headers), json=body))
        problem = _graph_problem(body)
        if problem:
            return graph_error(400, 100, f"(#100) {problem}")
        if body["to"] in self.fail_for:
            status, scripted = self.fail_for[body["to"]]
            return JSONResponse(scripted, status_code=status)
        answer: dict[str, Any] = {"id": "wamid.HBgL" + base64.b64encode(secrets.token_bytes(24)).decode()}
        if body["type"] == "template":
            answer["message_status"] = "accepted"
        contacts = [{"input": body["to"], "wa_id": body["to"]}]
        return JSONResponse({"messaging_product": "whatsapp", "contacts": contacts, "messages": [answer]})


def _graph_problem(body: Any) -> str | None:
    if not isinstance(body, dict) or body.get("messaging_product") != "whatsapp":
        return "The parameter messaging_product is required."
    if not body.get("to"):
        return "The parameter to is required."
    kind = body.get("type")
    if kind == "text":
        return None if body.get("text", {}).get("body") else "The parameter text['body'] is required."
    if kind == "template":
        template = body.get("template", {})
        ok = template.get("name") and template.get("language", {}).get("code")
        return None if ok else "The parameters template['name'] and template['language'] are required."
    return f"Unsupported message type: {kind}"


def graph_error_body(code: int, message: str, **extra: Any) -> dict[str, Any]:
    """Meta's Graph API error object."""
    error = {"message": message, "type": "OAuthException", "code": code,
             "fbtrace_id": "A" + secrets.token_hex(11), **extra}  # fmt: skip
    return {"error": error}


def graph_error(status: int, code: int, message: str) -> JSONResponse:
    return JSONResponse(graph_error_body(code, message), status_code=status)
