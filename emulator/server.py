"""The emulator as a server on loopback, for the demo (tests run moto in-process)."""

from __future__ import annotations

import json
import os
import socket
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

import boto3
from moto.server import ThreadedMotoServer

from . import MOTO_CONFIG, install, protocols


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_emulator() -> Iterator[str]:
    """Start moto on 127.0.0.1 with the project's fidelity patches; yield its URL."""
    port = _free_port()
    # aws-sdk tasks inside the emulator call back to this port.
    os.environ["MOTO_PORT"] = str(port)
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "emulator")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "emulator")
    install()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    try:
        request = urllib.request.Request(
            f"{url}/moto-api/config",
            data=json.dumps(MOTO_CONFIG).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        urllib.request.urlopen(request).read()
        protocols.check(
            lambda service: boto3.client(
                service,
                endpoint_url=url,
                region_name="us-east-1",
                aws_access_key_id="emulator",
                aws_secret_access_key="emulator",
            )
        )
        yield url
    finally:
        server.stop()
