"""Property-based tests (hypothesis) of the two readers of user-controlled input: the config
loader and the latent store reader. Whatever they are given, they either return a valid
result or raise `LsfError`; nothing else escapes."""

import dataclasses
import json
import math
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
import zarr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lsf.core.config import PipelineConfig, as_dict, config_from_mapping, load_config
from lsf.core.errors import LsfError
from lsf.core.store import is_complete, open_latents, open_store
from tests.helpers import write_latent_store

SECTIONS = {f.name: f.type for f in dataclasses.fields(PipelineConfig)}
FIELDS = sorted({name for section in as_dict(PipelineConfig()).values() for name in section})

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
    | st.sampled_from(["mse", "cosine", "all", "top:5", "1,2;3,4", "../x", "/abs", "s3://b/x"])
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
section_maps = st.dictionaries(
    st.sampled_from(FIELDS) | st.text(max_size=8) | st.integers(), values, max_size=5
)
config_maps = st.dictionaries(
    st.sampled_from(sorted(SECTIONS)) | st.text(max_size=8),
    section_maps | values,
    max_size=4,
)


def _assert_valid(config: PipelineConfig) -> None:
    for section in as_dict(config).values():
        for value in section.values():
            items = value if isinstance(value, list) else [value]
            for item in items:
                if isinstance(item, float):
                    assert math.isfinite(item)


@settings(max_examples=400, deadline=None)
@given(config_maps)
def test_config_mappings_are_valid_or_refused_in_one_line(data):
    try:
        config = config_from_mapping(data)
    except LsfError as exc:
        assert "\n" not in str(exc) and str(exc).startswith("config: ")
        return
    _assert_valid(config)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(sorted(SECTIONS)),
    st.data(),
    values,
)
def test_one_bad_value_names_its_key(section, data, value):
    field = data.draw(st.sampled_from(sorted(as_dict(PipelineConfig())[section])))
    try:
        config = config_from_mapping({section: {field: value}})
    except LsfError as exc:
        assert f"{section}.{field}" in str(exc), str(exc)
        return
    _assert_valid(config)


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_any_config_file_is_loaded_or_refused(tmp_path, content):
    path = tmp_path / "config.yaml"
    path.write_bytes(content)
    try:
        _assert_valid(load_config(path))
    except LsfError as exc:
        assert "\n" not in str(exc)


def test_config_paths_cannot_escape_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "faces").mkdir()
    assert config_from_mapping({"prepare": {"path": "faces"}}).prepare.path == "faces"
    assert config_from_mapping({"prepare": {"path": str(tmp_path.parent)}}).prepare.path
    assert config_from_mapping({"generate": {"features": "s3://b/f.pt"}}).generate.features
    for escaping in ["../faces", "faces/../../x", ".."]:
        with pytest.raises(LsfError, match="outside the working directory"):
            config_from_mapping({"prepare": {"path": escaping}})
    os.symlink(tmp_path.parent, tmp_path / "up")
    with pytest.raises(LsfError, match="generate.features .* outside the working directory"):
        config_from_mapping({"generate": {"features": "up/f.pt"}})


def test_yaml_with_python_tags_is_refused(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("train: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(LsfError, match="not valid YAML"):
        load_config(path)


# ---- the latent store reader --------------------------------------------------------------

N, D, ROWS = 40, 6, 16


@pytest.fixture(scope="module")
def pristine_store(tmp_path_factory):
    z = np.random.default_rng(1).standard_normal((N, D)).astype(np.float32)
    return write_latent_store(tmp_path_factory.mktemp("fuzz") / "l.zarr", z, ROWS), z


def _set_attr(group, key, value):
    group.attrs[key] = value


def _replace_array(group, name, dtype, shape):
    attrs = dict(group.attrs)
    del group[name]
    group.create_array(name, shape=shape, dtype=dtype, chunks=(ROWS, *shape[1:]))
    group.attrs.update(attrs)


def _chunk_files(path):
    return sorted(p for p in path.rglob("c/*") if p.is_file())


corruptions = st.one_of(
    st.tuples(
        st.just("attr"),
        st.sampled_from(["n_samples", "latent_dim", "rows_per_chunk", "complete", "model"]),
        scalars,
    ),
    st.tuples(st.just("drop_attr"), st.sampled_from(["n_samples", "latent_dim", "rows_per_chunk"])),
    st.tuples(
        st.just("array"),
        st.sampled_from(["z", "id"]),
        st.sampled_from(["float64", "int32", "uint8", "float16"]),
        st.sampled_from([(N, D), (N,), (N - 1, D), (N, D + 1), (N + 3,)]),
    ),
    st.tuples(st.just("garbage"), st.integers(0, 5), st.binary(max_size=64)),
    st.tuples(st.just("truncate"), st.integers(0, 5), st.integers(0, 40)),
    st.tuples(
        st.just("delete_file"), st.sampled_from(["zarr.json", "z/zarr.json", "id/zarr.json"])
    ),
    st.tuples(st.just("nan_rows"), st.lists(st.integers(0, N - 1), min_size=1, max_size=5)),
)


def _corrupt(path, corruption) -> None:
    kind, *args = corruption
    if kind in ("attr", "drop_attr", "array", "nan_rows"):
        if not (path / "zarr.json").exists():
            return
        group = zarr.open_group(str(path), mode="r+", use_consolidated=False)
        if kind == "attr":
            _set_attr(group, *args)
        elif kind == "drop_attr" and args[0] in group.attrs:
            del group.attrs[args[0]]
        elif kind == "array":
            _replace_array(group, *args)
        elif kind == "nan_rows" and "z" in group and group["z"].dtype.kind == "f":
            group["z"][sorted(set(args[0]))] = np.nan
        meta = json.loads((path / "zarr.json").read_text())
        meta.pop("consolidated_metadata", None)  # stale after the change: drop it
        (path / "zarr.json").write_text(json.dumps(meta))
        return
    if kind == "delete_file":
        target = path / args[0]
        if target.exists():
            target.unlink()
        return
    files = _chunk_files(path)
    if not files:
        return
    target = files[args[0] % len(files)]
    if kind == "garbage":
        target.write_bytes(args[1])
    else:
        target.write_bytes(target.read_bytes()[: args[1]])


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(corruptions, min_size=1, max_size=2))
def test_a_damaged_store_reads_correctly_or_is_refused_in_one_line(pristine_store, damage):
    source, z = pristine_store
    folder = tempfile.mkdtemp()
    try:
        path = shutil.copytree(source, os.path.join(folder, "l.zarr"))
        for corruption in damage:
            _corrupt(Path(path), corruption)
        is_complete(path)  # never raises
        try:
            open_store(path)
            values = open_latents(path).compute(scheduler="sync")
        except LsfError as exc:
            assert "\n" not in str(exc)
            return
        assert values.dtype == np.float32 and values.shape[1] == D
        finite = np.isfinite(values).all(axis=1)
        # whatever reads back without an error is the data that was written
        assert values.shape == z.shape and np.array_equal(values[finite], z[finite])
    finally:
        shutil.rmtree(folder)
