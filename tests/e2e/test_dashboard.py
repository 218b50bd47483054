"""The live dashboard page in headless Chromium (Debian's `chromium`), driven over the Chrome DevTools
Protocol: a user signs in, picks a tenant, and watches a message go from `queued` to `delivered`
and a campaign's progress, with no reload. A screenshot is kept in `test-artifacts/dashboard.png`."""

from __future__ import annotations

import base64
import itertools
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, suppress
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import ClientConnection, connect

from tests.support.server import ServerProcess, run_cli, start_server

pytestmark = pytest.mark.e2e
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
EMAIL = "dana@example.com"
PASSWORD = "a long dashboard password"
# Everything the page added to the events table, in order, seen by a MutationObserver so that no
# row escapes the test between two looks; `loadedOnce` is gone if the page ever reloads.
OBSERVE_ROWS = """
window.loadedOnce = true;
window.seenRows = [];
new MutationObserver((changes) => {
  for (const change of changes) for (const row of change.addedNodes) {
    if (row.dataset) window.seenRows.push({messageId: row.dataset.messageId, status: row.dataset.status});
  }
}).observe(document.querySelector('#events tbody'), {childList: true});
"""


class DevTools:
    """A Chrome DevTools Protocol session on one page target, over its WebSocket."""

    def __init__(self, socket: ClientConnection) -> None:
        self.socket = socket
        self.ids = itertools.count(1)
        self.console: list[str] = []

    def call(self, method: str, timeout: float = 10, **params: Any) -> dict[str, Any]:
        call_id = next(self.ids)
        self.socket.send(json.dumps({"id": call_id, "method": method, "params": params}))
        deadline = time.monotonic() + timeout
        while True:
            message = json.loads(self.socket.recv(timeout=max(deadline - time.monotonic(), 0.01)))
            if message.get("id") == call_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                result: dict[str, Any] = message["result"]
                return result
            self._note(message)

    def _note(self, message: dict[str, Any]) -> None:
        """Console output and uncaught exceptions of the page, for the failure report."""
        params = message.get("params", {})
        if message.get("method") == "Runtime.consoleAPICalled":
            text = " ".join(str(arg.get("value", arg.get("description", ""))) for arg in params["args"])
            self.console.append(f"console.{params['type']}: {text}")
        elif message.get("method") == "Runtime.exceptionThrown":
            self.console.append(f"exception: {params['exceptionDetails']}")

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression!r} threw {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, what: str, timeout: float = 10) -> Any:
        """The expression's value once it is truthy; polled every 50 ms."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}; page log:\n" + "\n".join(self.console))


@pytest.fixture
def chromium(tmp_path: Path) -> Iterator[Callable[[str], DevTools]]:
    """Opens pages in a headless Chromium of its own (a fresh profile), stopped afterwards."""
    binary = shutil.which("chromium")
    if binary is None:
        pytest.skip("chromium is not installed (tools/ensure-system-deps.sh installs Debian's chromium)")
    profile = tmp_path / "chromium-profile"
    flags = [
        "--headless=new", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
        "--no-default-browser-check", "--disable-extensions", "--disable-background-networking",
        "--disable-component-update", "--mute-audio", "--window-size=1280,900",
        "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0", f"--user-data-dir={profile}",
    ]  # fmt: skip
    if os.geteuid() == 0:
        flags.append("--no-sandbox")  # Chromium refuses to run as root with its sandbox
    log = (tmp_path / "chromium.log").open("w")
    browser = subprocess.Popen(
        [binary, *flags, "about:blank"], stdout=log, stderr=log, start_new_session=True
    )
    sockets = ExitStack()

    def open_page(url: str) -> DevTools:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 20
        while not (port_file.exists() and port_file.read_text().strip()):
            if browser.poll() is not None or time.monotonic() > deadline:
                pytest.fail("chromium did not start:\n" + (tmp_path / "chromium.log").read_text()[-3000:])
            time.sleep(0.1)
        port = port_file.read_text().split()[0]
        targets = httpx.get(f"http://127.0.0.1:{port}/json/list", timeout=5).json()
        page = next(target for target in targets if target["type"] == "page")
        devtools = DevTools(sockets.enter_context(connect(page["webSocketDebuggerUrl"], max_size=None)))
        devtools.call("Runtime.enable")
        devtools.call("Page.enable")
        devtools.call("Page.navigate", url=url)
        devtools.wait_for(
            "document.readyState === 'complete' && !!document.querySelector('#sign-in')", "the page"
        )
        return devtools

    with sockets:
        yield open_page
    with suppress(ProcessLookupError):
        os.killpg(browser.pid, signal.SIGTERM)  # the browser and its renderer processes
    try:
        browser.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(browser.pid, signal.SIGKILL)
        browser.wait(timeout=5)
    log.close()


@pytest.fixture
def dashboard_server(tmp_path: Path, fresh_database_url: str | None) -> Iterator[ServerProcess]:
    """A server whose sandbox takes a second to deliver, and a user in two tenants (`demo`, `acme`)."""
    server = start_server(tmp_path / "data", fresh_database_url, WECONN_SANDBOX_DELIVERY_DELAY_MS="1000")
    try:
        user = ["user", "create", "--email", EMAIL, "--password", PASSWORD]
        for args in (
            ["tenant", "create", "--slug", "acme", "--name", "Acme"],
            [*user, "--tenant", "acme", "--role", "member"],
            [*user, "--tenant", "demo", "--role", "owner"],
        ):
            done = run_cli(server.data_dir, fresh_database_url, *args)
            assert done.returncode == 0, done.stdout + done.stderr
        yield server
    finally:
        server.stop()


def seen_statuses(message_id: str) -> str:
    """The page expression: the statuses of the rows the page added for this message, in order."""
    return f"window.seenRows.filter(row => row.messageId === '{message_id}').map(row => row.status)"


def create_campaign(server: ServerProcess) -> int:
    headers = {"X-API-Key": server.demo_key}
    api = f"{server.base_url}/api/v1/integrations"
    contact = httpx.post(f"{api}/contacts", headers=headers, json={"name": "Dana", "phone": "+40740111223"})
    assert contact.status_code == 201, contact.text
    campaign = httpx.post(f"{api}/campaigns", headers=headers, json={
        "name": "Live test", "channel": "sms", "message_template": "Hi {{ name }}",
        "contact_ids": [contact.json()["data"]["id"]],
    })  # fmt: skip
    assert campaign.status_code == 201, campaign.text
    campaign_id: int = campaign.json()["data"]["id"]
    return campaign_id


def test_dashboard_shows_a_message_and_a_campaign_live(
    dashboard_server: ServerProcess, chromium: Callable[[str], DevTools], tmp_path: Path
) -> None:
    server = dashboard_server
    campaign_id = create_campaign(server)
    page = chromium(f"{server.base_url}/dashboard")

    # Sign in through the page's form with no tenant: the user's first (demo) is taken.
    page.evaluate(f"""(() => {{
      const form = document.querySelector('#sign-in');
      form.email.value = {json.dumps(EMAIL)};
      form.password.value = {json.dumps(PASSWORD)};
      form.requestSubmit();
    }})()""")
    tenants = page.wait_for(
        "!document.querySelector('#live').hidden"
        " && [...document.querySelector('#tenant').options].map(option => option.text)",
        "the signed-in view with the user's tenants",
    )
    assert len(tenants) == 2, tenants
    assert any("(acme)" in text for text in tenants), tenants
    selected = page.evaluate("(s => s.options[s.selectedIndex].text)(document.querySelector('#tenant'))")
    assert "(demo)" in selected, selected
    # Switch to acme, then back to demo: the page switches its socket and lists demo's campaigns.
    for slug in ("acme", "demo"):
        page.evaluate(f"""(() => {{
          const select = document.querySelector('#tenant');
          select.value = [...select.options].find(o => o.text.includes('({slug})')).value;
          select.dispatchEvent(new Event('change'));
        }})()""")
        live = "document.querySelector('#connection').dataset.state === 'live'"
        page.wait_for(live, f"{slug}'s live connection")
    page.wait_for(
        f"!!document.querySelector('#campaign option[value=\"{campaign_id}\"]')",
        "demo's campaigns in the list",
    )
    page.wait_for("document.querySelector('#connection').dataset.state === 'live'", "the live connection")
    page.evaluate(OBSERVE_ROWS)

    # The page's own button sends a sandbox SMS. The first one's rows show the stream is running
    # (the server starts it just after the ack); the second is followed from `queued` on.
    message_id = ""
    for attempt in ("warm-up", "watched"):
        page.evaluate("document.querySelector('#send-test').click()")
        message_id = page.wait_for(
            f"(id => id !== '{message_id}' && id)(document.querySelector('#send-result').dataset.messageId)",
            f"the {attempt} send's result",
        )
        page.wait_for(f"{seen_statuses(message_id)}.length > 0", f"the {attempt} message's first row")
    watched = seen_statuses(message_id)
    page.wait_for(
        f"{watched}.includes('delivered')", f"message {message_id} delivered on the page", timeout=15
    )
    assert page.evaluate(watched) == ["queued", "sending", "sent", "delivered"]
    shown = page.evaluate(
        f"[...document.querySelectorAll('#events tbody tr[data-message-id=\"{message_id}\"]')]"
        ".map(row => [...row.cells].map(cell => cell.textContent))"
    )
    assert [cells[2] for cells in shown] == ["delivered", "sent", "sending", "queued"], shown  # newest first
    assert all(cells[:2] == [f"#{message_id}", "sms"] for cells in shown), shown

    # Campaign progress: choose it, then send it; the panel follows it to its delivered count.
    page.evaluate(f"""(() => {{
      const select = document.querySelector('#campaign');
      select.value = '{campaign_id}';
      select.dispatchEvent(new Event('change'));
    }})()""")
    page.wait_for("document.querySelector('#campaign-status').textContent === 'draft'", "the draft campaign")
    sent = httpx.post(
        f"{server.base_url}/api/v1/integrations/campaigns/{campaign_id}/send",
        headers={"X-API-Key": server.demo_key},
    )
    assert sent.status_code == 202, sent.text
    stat = "document.querySelector('#campaign-stats [data-stat=\"{}\"] dd')?.textContent"
    page.wait_for(f"{stat.format('delivered')} === '1'", "the campaign's delivered count", timeout=15)
    assert page.evaluate("document.querySelector('#campaign-status').textContent") == "completed"
    assert page.evaluate("document.querySelector('#campaign-progress').textContent") == "100.0"
    assert page.evaluate("window.loadedOnce") is True, "the page reloaded"

    shot = page.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
    image = tmp_path / "dashboard.png"
    image.write_bytes(base64.b64decode(shot["data"]))
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copyfile(image, ARTIFACTS / "dashboard.png")
