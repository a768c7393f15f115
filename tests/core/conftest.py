"""The built-in models the core tests share: loaded once per test module (a module that counts
what a model's tracer keeps sees only its own work), and LeNet's first 300 probe inputs."""

from __future__ import annotations

import pytest

from core import api


@pytest.fixture(scope="module")
def lenet():
    return api.load("lenet_mnist")


@pytest.fixture(scope="module")
def vgg():
    return api.load("vgg_cifar10")


@pytest.fixture(scope="module")
def lenet_probe(lenet):
    """(raws, labels): LeNet's first 300 held-out probe inputs."""
    raws, labels = api.probe_set(lenet)
    return raws[:300], labels[:300]
