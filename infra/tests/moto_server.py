"""The infra tests' shared fixture (a pytest plugin: each test module names it in `pytest_plugins`; not a conftest.py,
whose module name mypy would see twice beside gpu-tier/tests'): `aws`, the URL of moto's server (a real HTTP endpoint
speaking the AWS APIs) with dummy credentials in the environment, one per test module. moto keeps one state per
process, so modules name their resources apart."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(scope="module")
def aws() -> Iterator[str]:
    moto_server = pytest.importorskip("moto.server")
    mp = pytest.MonkeyPatch()
    for k, v in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        mp.setenv(k, v)
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()
    mp.undo()
