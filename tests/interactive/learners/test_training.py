"""The training loop's checkpoints: stored without pickled code, read back, refused when damaged."""

import numpy as np
import pytest
import torch

from rlrec.errors import DataError
from rlrec.interactive.learners.training import (
    from_storable,
    load_checkpoint,
    save_checkpoint,
)


def test_checkpoints_round_trip_without_unpickling_code(tmp_path):
    class Tiny:
        name = "tiny"
        unit = "episodes"

        def state_dict(self):
            return {"a": np.arange(3), "rng": np.random.default_rng(5), "t": torch.ones(2)}

    save_checkpoint(Tiny(), tmp_path / "c.pt", 7, [{"episodes": 7}])
    state = load_checkpoint(tmp_path / "c.pt")
    restored = from_storable(state["state"])
    assert state["done"] == 7 and restored["a"].tolist() == [0, 1, 2]
    assert restored["rng"].integers(1000) == np.random.default_rng(5).integers(1000)
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(DataError, match="cannot read checkpoint"):
        load_checkpoint(tmp_path / "bad.pt")
