"""Look at a page in real headless Chromium (Debian's `chromium`), driven over the DevTools protocol.

    python -m tests.helpers.browser URL OUT.png [TEXT ...]   # waits for each TEXT, expands runs, screenshots

A fresh profile per call, no network beyond the page's own origin, and the browser's whole process
group stopped at the end.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import aiohttp

from tests.helpers.reaper import tagged

FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run", "--disable-sync", "--hide-scrollbars",
    "--window-size=1600,900", "--remote-debugging-port=0",
]  # fmt: skip
# The expander of a parent run in MLflow's runs table (RunNameCellRenderer's button).
EXPAND_PARENTS = (
    "document.querySelectorAll('button[data-component-id*=\"runnamecellrenderer\"]').forEach(b => b.click())"
)
# MLflow 3.17 opens its Assistant (a chat panel) beside the runs; closed, the table has the width.
CLOSE_ASSISTANT = (
    "document.querySelector('button[data-component-id=\"mlflow.assistant.chat_panel.close\"]')?.click()"
)


class Page:
    """One DevTools websocket: send a command, wait for its answer (events are skipped)."""

    def __init__(self, socket: aiohttp.ClientWebSocketResponse) -> None:
        self.socket = socket
        self.next_id = 0

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        await self.socket.send_str(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads((await self.socket.receive()).data)
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]

    async def text(self) -> str:
        answer = await self.call(
            "Runtime.evaluate", expression="document.body ? document.body.innerText : ''"
        )
        return answer["result"].get("value", "")

    async def wait_for(self, texts: list[str], timeout_s: float) -> str:
        deadline = time.monotonic() + timeout_s
        while True:
            shown = await self.text()
            missing = [t for t in texts if t not in shown]
            if not missing:
                return shown
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"not shown after {timeout_s:.0f} s: {missing}\n--- page text:\n{shown[:3000]}"
                )
            await asyncio.sleep(0.5)


def _devtools_port(profile: Path, browser: subprocess.Popen[bytes], timeout_s: float = 60) -> int:
    """Chromium writes the port it chose (port 0 = any free one) into the profile folder."""
    marker = profile / "DevToolsActivePort"
    deadline = time.monotonic() + timeout_s
    while not (marker.exists() and marker.read_text().strip()):
        if browser.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"chromium did not start (exit {browser.poll()})")
        time.sleep(0.2)
    return int(marker.read_text().split()[0])


async def _look(url: str, screenshot: Path, parents: list[str], children: list[str], port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as answer:
        target = next(t for t in json.loads(answer.read()) if t["type"] == "page")
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(target["webSocketDebuggerUrl"], max_msg_size=0) as socket,
    ):
        page = Page(socket)
        await page.call("Page.enable")
        await page.call("Page.navigate", url=url)
        await page.wait_for(parents, timeout_s=90)
        if children:
            await page.call("Runtime.evaluate", expression=EXPAND_PARENTS)
        shown = await page.wait_for([*parents, *children], timeout_s=60)
        await page.call("Runtime.evaluate", expression=CLOSE_ASSISTANT)
        await asyncio.sleep(1.0)  # let the table finish painting the rows it just showed
        image = await page.call("Page.captureScreenshot", format="png")
        screenshot.write_bytes(base64.b64decode(image["data"]))
        return shown


def look_at(url: str, screenshot: Path, parents: list[str], children: list[str] = ()) -> str:
    """Open `url`, wait until every parent run name shows, expand the parents, wait for the children;
    save a screenshot and return the page's text. Raises AssertionError naming what never showed."""
    profile = Path(tempfile.mkdtemp(prefix=tagged("chromium-profile-")))
    browser = subprocess.Popen(
        ["chromium", *FLAGS, f"--user-data-dir={profile}", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        port = _devtools_port(profile, browser)
        return asyncio.run(_look(url, screenshot, list(parents), list(children), port))
    finally:
        os.killpg(browser.pid, signal.SIGTERM)
        try:
            browser.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(browser.pid, signal.SIGKILL)
            browser.wait()
        shutil.rmtree(profile, ignore_errors=True)


if __name__ == "__main__":
    print(look_at(sys.argv[1], Path(sys.argv[2]), sys.argv[3:4], sys.argv[4:]))
