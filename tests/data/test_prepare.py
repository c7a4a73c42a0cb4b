import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from lsf.cli import main
from lsf.core.config import PrepareConfig
from lsf.core.errors import LsfError
from lsf.core.progress import QUIET
from lsf.data.shards import read_images, read_manifest, read_table
from lsf.data.synthetic import synthetic_faces
from lsf.prepare import prepare

pytestmark = pytest.mark.timeout(300)


def test_synthetic_shards_round_trip(synthetic_shards):
    manifest = read_manifest(synthetic_shards)
    assert manifest["n"] == 600 and manifest["image_shape"] == [32, 32, 3]
    assert [s["rows"] for s in manifest["shards"]] == [256, 256, 88]
    ids, images = read_images(synthetic_shards)
    order = np.argsort(ids)
    assert np.array_equal(ids[order], np.arange(600))
    assert images.dtype == np.uint8 and images.shape == (600, 32, 32, 3)
    assert np.array_equal(images[order], synthetic_faces(0, 600, seed=3, size=32))
    table = read_table(f"{synthetic_shards}/shard-00000.parquet")
    assert str(table.schema.field("id").type) == "int64"
    assert str(table.schema.field("split").type) == "int8"
    assert manifest["splits"]["train"] + manifest["splits"]["validation"] == 600
    assert 0 < manifest["splits"]["validation"] < 100


def _fake_celeba(root, n=30):
    """CelebA layout: 178x218 JPEGs, a partition file, one corrupt, one truncated, one small."""
    folder = root / "img_align_celeba"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    names = [f"{i + 1:06d}.jpg" for i in range(n)]
    for name in names:
        pixels = rng.integers(0, 256, (218, 178, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / name, quality=90)
    (folder / names[4]).write_bytes(b"not a jpeg at all")
    data = (folder / names[9]).read_bytes()
    (folder / names[9]).write_bytes(data[: len(data) // 3])
    Image.fromarray(rng.integers(0, 256, (40, 30, 3), dtype=np.uint8)).save(folder / names[20])
    partition = "\n".join(
        f"{name} {0 if i < 20 else (1 if i < 25 else 2)}" for i, name in enumerate(names)
    )
    (root / "list_eval_partition.txt").write_text(partition + "\n")
    return folder, names


def _crop_resize(path, size):
    image = Image.open(path).convert("RGB")
    w, h = image.size
    top = (h - w) // 2
    return np.asarray(
        image.crop((0, top, w, top + w)).resize((size, size), Image.Resampling.LANCZOS)
    )


def test_fake_celeba_is_prepared_with_bad_files_skipped_and_ids_contiguous(tmp_path, ray_local):
    folder, names = _fake_celeba(tmp_path / "celeba")
    out = str(tmp_path / "shards")
    config = PrepareConfig(
        source="celeba", path=str(tmp_path / "celeba"), size=32, rows_per_shard=8
    )
    summary = prepare(config, out, progress=QUIET)
    bad = {names[4], names[9], names[20]}
    assert summary.n == 27 and {name for name, _ in summary.skipped} == bad
    manifest = read_manifest(out)
    assert {s["name"] for s in manifest["skipped"]} == bad
    assert "smaller than --size" in {s["name"]: s["reason"] for s in manifest["skipped"]}[names[20]]
    good = [name for name in names if name not in bad]
    rows = []
    for entry in manifest["shards"]:
        table = read_table(f"{out}/{entry['file']}")
        rows += list(
            zip(
                table["id"].to_pylist(),
                table["name"].to_pylist(),
                table["split"].to_pylist(),
                strict=True,
            )
        )
    assert [r[0] for r in rows] == list(range(27))
    assert [r[1] for r in rows] == good
    expected_split = {name: 0 if i < 20 else (1 if i < 25 else 2) for i, name in enumerate(names)}
    assert all(split == expected_split[name] for _, name, split in rows)
    ids, images = read_images(out)
    for k in (0, 5, 26):
        assert np.array_equal(images[list(ids).index(k)], _crop_resize(folder / good[k], 32))


def test_existing_output_is_refused_unless_overwrite(tmp_path, ray_local):
    out = str(tmp_path / "shards")
    prepare(PrepareConfig(n=20, size=16, rows_per_shard=8), out, progress=QUIET)
    with pytest.raises(LsfError, match="already exists; pass --overwrite"):
        prepare(PrepareConfig(n=30, size=16), out, progress=QUIET)
    prepare(PrepareConfig(n=30, size=16), out, overwrite=True, progress=QUIET)
    assert read_manifest(out)["n"] == 30
    assert os.listdir(tmp_path) == ["shards"]  # no temporary folders left behind


@pytest.mark.parametrize(
    "make_source, message",
    [
        (lambda p: str(p / "missing"), "source folder not found"),
        (lambda p: (p / "empty").mkdir() or str(p / "empty"), "no JPEG or PNG images"),
    ],
)
def test_missing_or_empty_folder_is_refused(tmp_path, make_source, message):
    config = PrepareConfig(source="folder", path=make_source(tmp_path))
    with pytest.raises(LsfError, match=message):
        prepare(config, str(tmp_path / "out"), progress=QUIET)


def test_unwritable_output_is_refused(tmp_path):
    (tmp_path / "afile").write_text("x")
    with pytest.raises(LsfError, match="cannot create output folder"):
        prepare(PrepareConfig(n=10), str(tmp_path / "afile" / "sub" / "shards"), progress=QUIET)


def test_cli_bad_input_is_one_line_and_exit_code_2(tmp_path):
    cmd = [sys.executable, "-m", "lsf.cli", "prepare", "--source", "folder"]
    result = subprocess.run(
        [*cmd, "--path", str(tmp_path / "nope"), "--out", str(tmp_path / "o")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"lsf prepare: error: source folder not found: {tmp_path / 'nope'}"
    ]
    result = subprocess.run([*cmd, "--size", "x"], capture_output=True, text=True)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1


def test_cli_help_lists_verbs_and_examples():
    result = subprocess.run(
        [sys.executable, "-m", "lsf.cli", "prepare", "--help"], capture_output=True, text=True
    )
    assert result.returncode == 0 and "examples:" in result.stdout
    result = subprocess.run(
        [sys.executable, "-m", "lsf.cli", "--help"], capture_output=True, text=True
    )
    for verb in ("prepare", "run"):
        assert verb in result.stdout


def test_cli_prepare_writes_shards(tmp_path, ray_local, capsys):
    out = tmp_path / "shards"
    assert main(["prepare", "--n", "40", "--size", "16", "--out", str(out), "--quiet"]) == 0
    assert "prepared 40 images" in capsys.readouterr().out
    assert json.loads((out / "manifest.json").read_text())["n"] == 40
