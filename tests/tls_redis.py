"""A TLS front for the test Redis with a self-signed certificate, the way Heroku Redis serves rediss://."""

from __future__ import annotations

import asyncio
import ipaddress
import ssl
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """Write a throwaway certificate for 127.0.0.1 and its key; returns (cert path, key path)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "self-signed test redis")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "redis-cert.pem", folder / "redis-key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


class TlsRedisProxy:
    """Accept TLS on 127.0.0.1 and relay the plain bytes to the upstream Redis (unix:// or redis://)."""

    def __init__(self, upstream_url: str, folder: Path):
        self.upstream = urlsplit(upstream_url)
        cert, key = self_signed_certificate(folder)
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert, key)
        self.connections = 0
        self._tasks: set = set()
        self._writers: set = set()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="tls-redis-proxy", daemon=True)
        self._server = None
        self.port = 0

    @property
    def url(self) -> str:
        """The rediss:// URL clients use (same database number as the upstream)."""
        database = self.upstream.path.lstrip("/") if self.upstream.scheme != "unix" else ""
        return f"rediss://127.0.0.1:{self.port}/{database or '0'}"

    def __enter__(self) -> TlsRedisProxy:
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._relay, "127.0.0.1", 0, ssl=self.context), self._loop
        ).result(timeout=10)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def __exit__(self, *exc_info) -> None:
        async def close():
            self._server.close()
            # Cut relayed connections too, like a stopped Redis, and let the relays finish.
            for writer in list(self._writers):
                writer.transport.abort()  # no TLS goodbye: the client may never answer one
            if self._tasks:
                await asyncio.wait(list(self._tasks), timeout=5)

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    async def _relay(self, client_reader, client_writer) -> None:
        self.connections += 1
        task = asyncio.current_task()
        self._tasks.add(task)
        if self.upstream.scheme == "unix":
            upstream_reader, upstream_writer = await asyncio.open_unix_connection(self.upstream.path)
        else:
            upstream_reader, upstream_writer = await asyncio.open_connection(self.upstream.hostname, self.upstream.port or 6379)
        self._writers.update((client_writer, upstream_writer))
        try:
            await asyncio.gather(
                self._pump(client_reader, upstream_writer),
                self._pump(upstream_reader, client_writer),
                return_exceptions=True,
            )
        finally:
            client_writer.close()
            upstream_writer.close()
            self._writers.difference_update((client_writer, upstream_writer))
            self._tasks.discard(task)

    @staticmethod
    async def _pump(reader, writer) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        finally:
            writer.close()
