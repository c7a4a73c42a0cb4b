"""Pass checkpoints of `lsf analyze`: exact round trips without pickle, keyed folders."""

import numpy as np
import pytest

from lsf.core.checkpoints import PassCheckpoints, flatten, run_pass, unflatten


def test_nested_values_round_trip_exactly(tmp_path):
    value = [
        {"count": 7, "sum": np.arange(3.0), "n": np.int64(5), "flag": True, "none": None},
        [np.float32(np.nan), float("inf"), "text", np.zeros((2, 0))],
        (np.array([[1, 2]], dtype=np.uint32),),
    ]
    checkpoints = PassCheckpoints(str(tmp_path / "p"), {"k": 1})
    checkpoints.save("pass1", value)
    back = PassCheckpoints(str(tmp_path / "p"), {"k": 1}).load("pass1")
    assert back[0]["count"] == 7 and type(back[0]["count"]) is int
    assert back[0]["n"] == 5 and isinstance(back[0]["n"], np.int64)
    assert back[0]["flag"] is True and back[0]["none"] is None
    np.testing.assert_array_equal(back[0]["sum"], value[0]["sum"])
    assert np.isnan(back[1][0]) and back[1][0].dtype == np.float32 and back[1][1] == np.inf
    assert back[1][3].shape == (2, 0) and back[2][0].dtype == np.uint32


def test_a_different_key_discards_the_saved_passes(tmp_path):
    PassCheckpoints(str(tmp_path / "p"), {"config": 1}).save("pass1", {"a": np.ones(2)})
    assert PassCheckpoints(str(tmp_path / "p"), {"config": 1}).load("pass1") is not None
    assert PassCheckpoints(str(tmp_path / "p"), {"config": 2}).load("pass1") is None


def test_run_computes_once_and_a_damaged_file_is_recomputed(tmp_path):
    calls, lines = [], []
    checkpoints = PassCheckpoints(str(tmp_path / "p"), {})
    compute = lambda: calls.append(1) or {"x": np.arange(4)}  # noqa: E731
    first = run_pass(checkpoints, "pass2", compute, log=lines.append, label="pass 2")
    second = run_pass(checkpoints, "pass2", compute, log=lines.append, label="pass 2")
    assert len(calls) == 1 and np.array_equal(first["x"], second["x"])
    assert lines == ["pass 2", "pass 2 (resumed: finished by an earlier run)"]
    saved = (tmp_path / "p" / "pass2.npz").read_bytes()
    for damaged in (b"cut short", saved[: len(saved) // 2]):
        (tmp_path / "p" / "pass2.npz").write_bytes(damaged)
        assert checkpoints.load("pass2") is None
    checkpoints.clear()
    assert not (tmp_path / "p").exists()


def test_objects_that_would_need_pickle_are_refused():
    with pytest.raises(TypeError, match="cannot checkpoint a object"):
        flatten(object(), {})
    assert unflatten(flatten({"a": [1, 2.5]}, {}), {}) == {"a": [1, 2.5]}
