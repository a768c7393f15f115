"""training.cli: the scripts' shared command line."""

from __future__ import annotations

from pathlib import Path

import pytest

from training import cli


def test_image_options_reach_train_as_its_keywords():
    got = []

    def options(ap):
        cli.image_options(ap, data="../shared/data/mnist", what="MNIST IDX files", epochs=20)

    assert cli.main("Train.", ["--epochs", "3", "--smoke"], options, got.append) == 0
    assert cli.image_args(got[0]) == {
        "data": Path("../shared/data/mnist"),
        "out": Path("assets/models"),
        "epochs": 3,
        "smoke": True,
    }


def test_a_bad_path_is_one_line_not_a_traceback():
    def run(args):
        raise FileNotFoundError(f"no MNIST files in {args.data}")

    def options(ap):
        cli.image_options(ap, data="nowhere", what="MNIST IDX files", epochs=20)

    with pytest.raises(SystemExit, match="^error: no MNIST files in nowhere$"):
        cli.main("Train.", [], options, run)
