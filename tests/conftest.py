"""Shared fixtures. Trained weights are cached under HWSEARCH_CACHE_DIR (training runs once)."""

from __future__ import annotations

import pytest
import torch

torch.manual_seed(0)


@pytest.fixture(scope="session")
def digits():
    from hwsearch.data import load_dataset

    return load_dataset("digits")


@pytest.fixture(scope="session")
def digits_cnn():
    from hwsearch.zoo import build_model

    return build_model("digits-cnn")


@pytest.fixture(scope="module")
def one_thread():
    """Tiny models: one thread is as fast, and immune to OpenMP stalls on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def alice(server):
    """A client with its own key on the module's ``server`` (a real ``hwsearch serve``)."""
    from tests.service import create_key

    with server.client(create_key(server.env, "alice")) as client:
        yield client


@pytest.fixture(scope="module")
def bob(server):
    """A second key on the same server: sees none of alice's jobs, policies or uploads."""
    from tests.service import create_key

    with server.client(create_key(server.env, "bob")) as client:
        yield client
