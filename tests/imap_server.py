"""A real, throwaway IMAP server for tests: pymap's in-memory ``dict`` backend.

pymap (pure Python, from PyPI) runs as a subprocess on a free 127.0.0.1 port with one user;
it offers IDLE, MOVE and UIDPLUS. Its mailboxes live in memory, so every server starts
empty and a restart loses all mail. Tests put messages in with IMAP APPEND through
:meth:`ImapServer.append`, as a mail server's delivery would.
"""

from __future__ import annotations

import asyncio
import secrets
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aioimaplib

from appservice.dev.synapse_runner import free_port

PYMAP = "import sys; from pymap.main import main; sys.argv[0] = 'pymap'; main()"


class ImapServer:
    """``async with ImapServer() as server:``; ``server.port``, ``.username``, ``.password``."""

    def __init__(self, port: int | None = None) -> None:
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.username = "lotse"
        self.password = secrets.token_hex(8)
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            PYMAP,
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--no-tls",
            "dict",
            "--demo-user",
            self.username,
            "--demo-password",
            self.password,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        for _ in range(200):  # pymap starts in well under a second
            if self.process.returncode is not None:
                raise RuntimeError(f"pymap exited with {self.process.returncode}")
            if _listening(self.host, self.port):
                return
            await asyncio.sleep(0.05)
        await self.stop()
        raise RuntimeError("pymap did not start listening within 10 s")

    async def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.returncode is not None:
            return
        # Killed, not terminated: pymap waits for open connections on SIGTERM, and a test
        # that stops the server wants it gone at once (the dict backend keeps nothing).
        process.kill()
        await process.wait()

    async def __aenter__(self) -> ImapServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @asynccontextmanager
    async def client(self) -> AsyncIterator[aioimaplib.IMAP4]:
        """A logged-in connection of the test itself (to feed and inspect the mailbox)."""
        client = aioimaplib.IMAP4(self.host, self.port, timeout=10)
        await client.wait_hello_from_server()
        response = await client.login(self.username, self.password)
        assert response.result == "OK", "test IMAP login refused"
        try:
            yield client
        finally:
            await client.logout()

    async def append(self, raw: bytes, mailbox: str = "INBOX") -> None:
        async with self.client() as client:
            response = await client.append(raw, mailbox=mailbox)
            assert response.result == "OK", "APPEND refused"

    async def count(self, mailbox: str) -> int | None:
        """Messages in ``mailbox``, None if it does not exist."""
        async with self.client() as client:
            response = await client.status(f'"{mailbox}"', "(MESSAGES)")
            if response.result != "OK":
                return None
            for line in response.lines:
                text = bytes(line).decode()
                if "MESSAGES" in text:
                    return int(text.rsplit("MESSAGES", 1)[1].strip(" )"))
            return None


def _listening(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0
