"""`lsf pca`: the top K components of a latent store, streamed, against scikit-learn's exact
`PCA` (full SVD) on a store of known low-rank structure; split selection; bad input refused in
one line (exit 2) before any latent is read; the pass never holds the `[n, D]` rows.

Tolerances: the components of well-separated eigenvalues agree to |cos| > 0.999 (both
methods). IncrementalPCA keeps only K directions between batches, so the variance of the
discarded noise directions is lost a little at each batch: its explained variances agree
with the full SVD to 1e-3 relative (measured ~1e-5 on this store); the randomized SVD with 4
power iterations to 1e-6. The total variance is streamed exactly (float64): against numpy at
1e-9, so the ratio is `explained_variance / total` at 1e-9.
"""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from sklearn.decomposition import PCA

import lsf.pca
from lsf.cli import main
from lsf.core.store import create_store, finalize, open_store, write_chunk, write_split
from lsf.pca import read_pca
from lsf.stats.streamed_pca import column_variance, combine_variance, rebatch, total_variance
from tests.helpers import assert_close_to_scale, driver_tracebacks, write_latent_store

pytestmark = pytest.mark.timeout(120)

N, D, RANK, ROWS_PER_CHUNK = 3000, 48, 5, 256
SIGNAL_VARIANCES = (100.0, 50.0, 25.0, 12.0, 6.0)  # each twice the next: well separated
VARIANCE_RTOL = {"incremental": 1e-3, "randomized": 1e-6}


def low_rank_latents(n: int = N, d: int = D, seed: int = 0) -> np.ndarray:
    """RANK orthonormal axes with variances SIGNAL_VARIANCES, isotropic noise of variance
    0.09 and means away from 0 (float32 `[n, d]`)."""
    rng = np.random.default_rng(seed)
    axes, _ = np.linalg.qr(rng.standard_normal((d, RANK)))
    scores = rng.standard_normal((n, RANK)) * np.sqrt(SIGNAL_VARIANCES)
    z = scores @ axes.T + 0.3 * rng.standard_normal((n, d)) + rng.normal(0, 3, d)
    return z.astype(np.float32)


def split_of(n: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).choice(3, size=n, p=[0.7, 0.2, 0.1]).astype(np.int8)


def write_split_store(path, z, split, rows_per_chunk=ROWS_PER_CHUNK) -> str:
    n, d = z.shape
    model, source = {"path": "none", "sha256": "t"}, {"dataset": "t", "fingerprint": "split-t"}
    group = create_store(str(path), n, d, rows_per_chunk, model=model, source=source)
    for index, start in enumerate(range(0, n, rows_per_chunk)):
        stop = min(start + rows_per_chunk, n)
        write_split(group, index, split[start:stop])
        write_chunk(group, index, np.arange(start, stop), z[start:stop])
    finalize(group)
    return str(path)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    z = low_rank_latents()
    return write_latent_store(tmp_path_factory.mktemp("pca") / "l.zarr", z, ROWS_PER_CHUNK), z


def run_pca(latents, out, *flags) -> int:
    return main(["pca", "--latents", str(latents), "--out", str(out), "--quiet", *flags])


def assert_matches_full_pca(result, rows: np.ndarray, k: int, method: str) -> None:
    x = rows.astype(np.float64)
    reference = PCA(n_components=k, svd_solver="full").fit(x)
    cosines = np.abs(np.sum(result.components * reference.components_, axis=1))
    assert (cosines > 0.999).all(), cosines
    np.testing.assert_allclose(np.linalg.norm(result.components, axis=1), 1.0, rtol=1e-9)
    rtol = VARIANCE_RTOL[method]
    np.testing.assert_allclose(result.explained_variance, reference.explained_variance_, rtol=rtol)
    np.testing.assert_allclose(
        result.explained_variance_ratio, reference.explained_variance_ratio_, rtol=rtol
    )
    total = np.var(x, axis=0, ddof=1).sum()
    assert result.total_variance == pytest.approx(total, rel=1e-9)
    assert_close_to_scale(result.explained_variance_ratio, result.explained_variance / total)
    assert_close_to_scale(result.mean, x.mean(axis=0))
    assert result.rows == len(rows)


# ---- the pure parts -------------------------------------------------------------------------


@pytest.mark.parametrize("chunking", [[3000], [1000, 1000, 1000], [1, 999, 37, 1963]])
def test_streamed_total_variance_equals_numpy_over_chunkings(chunking):
    z = low_rank_latents()
    edges = np.cumsum([0, *chunking])
    parts = [column_variance(z[a:b]) for a, b in zip(edges[:-1], edges[1:], strict=True)]
    moments = parts[0]
    for part in parts[1:]:
        moments = combine_variance(moments, part)
    x = z.astype(np.float64)
    assert moments["count"] == N
    assert_close_to_scale(moments["mean"], x.mean(axis=0))
    assert total_variance(moments) == pytest.approx(np.var(x, axis=0, ddof=1).sum(), rel=1e-9)


@pytest.mark.parametrize("sizes", [[7] * 20, [100], [3, 1, 50, 2, 2], [0, 12, 0, 13]])
def test_rebatch_keeps_order_and_bounds_every_batch(sizes):
    rows = np.arange(sum(sizes))[:, None]
    blocks = np.split(rows, np.cumsum(sizes)[:-1])
    batches = list(rebatch(blocks, batch_rows=10, min_rows=4))
    np.testing.assert_array_equal(np.concatenate(batches), rows)
    assert all(4 <= len(b) <= 10 + 4 - 1 for b in batches)
    assert all(len(b) == 10 for b in batches[:-1])


# ---- against scikit-learn's full PCA --------------------------------------------------------


@pytest.mark.parametrize(
    "method, flags",
    [
        ("incremental", ["--batch-rows", "300"]),  # batches cut across store chunks
        ("incremental", ["--batch-rows", "5"]),  # batches of K rows, many truncations
        ("randomized", []),
    ],
    ids=["incremental-300", "incremental-5", "randomized"],
)
def test_components_equal_full_pca_up_to_sign(store, tmp_path, method, flags):
    latents, z = store
    out = tmp_path / "pca"
    assert run_pca(latents, out, "--components", "5", "--method", method, *flags) == 0
    result, info = read_pca(str(out))
    assert_matches_full_pca(result, z, 5, method)
    assert info["method"] == method and info["components"] == 5 and info["rows"] == N
    assert info["store"]["fingerprint"] == f"test-{N}-{D}"
    assert lsf.pca.is_complete(str(out))
    assert [p.name for p in tmp_path.iterdir() if ".tmp-" in p.name] == []


def test_components_are_unit_axes_with_the_stated_signs(store, tmp_path):
    latents, z = store
    assert run_pca(latents, tmp_path / "p", "--components", "3") == 0
    result, _ = read_pca(str(tmp_path / "p"))
    np.testing.assert_allclose(result.components @ result.components.T, np.eye(3), atol=1e-9)
    biggest = np.abs(result.components).argmax(axis=1)
    assert (result.components[np.arange(3), biggest] > 0).all()


def test_the_output_is_read_by_zarr_with_dimension_names(store, tmp_path):
    import zarr

    latents, _ = store
    assert run_pca(latents, tmp_path / "p", "--components", "4") == 0
    group = zarr.open_group(str(tmp_path / "p" / "pca.zarr"), mode="r")
    assert group["components"].shape == (4, D)
    assert group["components"].metadata.dimension_names == ("pc", "component")
    summary = json.loads((tmp_path / "p" / "pca.json").read_text())
    assert len(summary["explained_variance_ratio"]) == 4


@pytest.mark.parametrize("split, code", [("train", 0), ("validation", 1), ("test", 2)])
def test_split_selects_the_rows_of_that_split(tmp_path, split, code):
    z, splits = low_rank_latents(), split_of(N)
    latents = write_split_store(tmp_path / "s.zarr", z, splits)
    for method in ("incremental", "randomized"):
        out = tmp_path / f"p-{method}"
        assert run_pca(latents, out, "--components", "5", "--split", split, "--method", method) == 0
        result, info = read_pca(str(out))
        assert info["split"] == split and info["rows"] == int((splits == code).sum())
        assert_matches_full_pca(result, z[splits == code], 5, method)


# ---- bounded memory -------------------------------------------------------------------------


def test_the_pass_reads_one_chunk_at_a_time_and_fits_bounded_batches(store, tmp_path, monkeypatch):
    from sklearn.decomposition import IncrementalPCA

    latents, z = store
    reads, fitted = [], []
    read_rows, partial_fit = lsf.pca.read_rows, IncrementalPCA.partial_fit

    def counted_read(array, url, start, stop):
        reads.append(stop - start)
        return read_rows(array, url, start, stop)

    def counted_fit(self, x, *args, **kwargs):
        fitted.append(x.shape)
        return partial_fit(self, x, *args, **kwargs)

    monkeypatch.setattr(lsf.pca, "read_rows", counted_read)
    monkeypatch.setattr(IncrementalPCA, "partial_fit", counted_fit)
    assert run_pca(latents, tmp_path / "p", "--components", "5", "--batch-rows", "100") == 0
    assert max(reads) <= ROWS_PER_CHUNK and sum(reads) == N  # each chunk once, never [n, D]
    assert max(rows for rows, _ in fitted) <= 100 + 5 - 1 and sum(r for r, _ in fitted) == N
    reads.clear()
    assert run_pca(latents, tmp_path / "r", "--components", "5", "--method", "randomized") == 0
    assert max(reads) <= ROWS_PER_CHUNK and sum(reads) == (2 * 4 + 2 + 1) * N  # 11 reads


PEAK_RSS = textwrap.dedent(
    """
    import sys
    import zarr
    from lsf.cli import main

    def status(key):  # kB lines of /proc/self/status: VmRSS now, VmHWM the peak
        with open("/proc/self/status") as f:
            return next(int(l.split()[1]) * 1024 for l in f if l.startswith(key + ":"))

    def held_by(work):  # peak RSS during `work` above the RSS before it
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # the peak (VmHWM) restarts from the RSS now
        before = status("VmRSS")
        work()
        return status("VmHWM") - before

    tiny, big, out = sys.argv[1:4]
    flags = ["--components", "4", "--batch-rows", "64", "--quiet"]
    assert main(["pca", "--latents", tiny, "--out", out + "-tiny", *flags]) == 0  # warm
    pca = held_by(lambda: main(["pca", "--latents", big, "--out", out, *flags]))
    control = held_by(lambda: zarr.open_group(big, mode="r")["z"][:].sum())  # [n, D] held
    print(pca, control)
    """
)


def test_peak_memory_grows_by_far_less_than_the_store(tmp_path, capsys):
    n, d, rows_per_chunk = 24_000, 512, 1000
    rng = np.random.default_rng(0)
    model, source = {"path": "none", "sha256": "t"}, {"dataset": "t", "fingerprint": "big"}
    big = str(tmp_path / "big.zarr")
    group = create_store(big, n, d, rows_per_chunk, model=model, source=source)
    for index, start in enumerate(range(0, n, rows_per_chunk)):
        block = rng.standard_normal((rows_per_chunk, d), dtype=np.float32)
        write_chunk(group, index, np.arange(start, start + rows_per_chunk), block)
    finalize(group)
    # a first run on chunks of the same shape: imports, thread arenas and zarr's buffers
    tiny = write_latent_store(tmp_path / "tiny.zarr", low_rank_latents(3000, d), rows_per_chunk)
    result = subprocess.run(
        [sys.executable, "-c", PEAK_RSS, tiny, big, str(tmp_path / "p")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    pca_held, control_held = (int(v) for v in result.stdout.split()[-2:])
    with capsys.disabled():
        print(f" held: pca {pca_held / 1e6:.1f} MB, control {control_held / 1e6:.1f} MB", end=" ")
    # 49 MB of float32 rows (98 MB as float64), a chunk 2 MB; measured: pca ~13 MB held at
    # 12,000 and at 24,000 rows alike (it does not grow with n), the control 75 MB
    store_bytes = n * d * 4
    assert control_held >= store_bytes  # the measurement sees [n, D] held
    assert pca_held < 0.5 * store_bytes, (pca_held, store_bytes)


# ---- bad input ------------------------------------------------------------------------------


def refused(capsys, argv: list[str], match: str) -> None:
    code = main(argv)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("lsf pca: error:") and match in lines[0], err
    assert not driver_tracebacks(err), err


@pytest.fixture
def no_reads(monkeypatch):
    def fail(*args):
        raise AssertionError("a latent was read")

    monkeypatch.setattr(lsf.pca, "read_rows", fail)


@pytest.mark.parametrize(
    "flags, match",
    [
        (["--components", "0"], "pca.components must be >= 1"),
        (["--components", str(D + 1)], f"more than the latent dimension D = {D}"),
        (["--components", "10", "--batch-rows", "9"], "--batch-rows 9 is below --components 10"),
        ([], "--components K is required"),
        (["--components", "2", "--split", "val"], "invalid choice: 'val'"),
        (["--components", "2", "--method", "exact"], "invalid choice: 'exact'"),
    ],
    ids=["k-zero", "k-above-d", "batch-below-k", "no-k", "unknown-split", "unknown-method"],
)
def test_bad_requests_are_one_line_and_exit_2_before_any_read(
    capsys, store, tmp_path, no_reads, flags, match
):
    latents, _ = store
    argv = ["pca", "--latents", latents, "--out", str(tmp_path / "p"), *flags]
    if "invalid choice" in match:
        with pytest.raises(SystemExit) as exited:
            main(argv)
        assert exited.value.code == 2
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and match in lines[0], lines
    else:
        refused(capsys, argv, match)
    assert not (tmp_path / "p").exists()


def test_k_above_the_rows_of_the_split_is_refused(capsys, tmp_path, no_reads):
    z = low_rank_latents(60)
    splits = np.zeros(60, dtype=np.int8)
    splits[:3] = 2  # three test rows
    latents = write_split_store(tmp_path / "s.zarr", z, splits, rows_per_chunk=16)
    out = str(tmp_path / "p")
    argv = ["pca", "--latents", latents, "--out", out, "--split", "test", "--components", "4"]
    refused(capsys, argv, "more than the 3 rows of the test split")


def test_missing_incomplete_and_splitless_stores_are_refused(capsys, tmp_path, no_reads):
    out = str(tmp_path / "p")
    refused(
        capsys,
        ["pca", "--latents", str(tmp_path / "none.zarr"), "--out", out, "--components", "2"],
        "no latent store at",
    )
    z = low_rank_latents(64)
    partial = write_latent_store(tmp_path / "partial.zarr", z, 16, complete=False)
    refused(
        capsys, ["pca", "--latents", partial, "--out", out, "--components", "2"], "is incomplete"
    )
    plain = write_latent_store(tmp_path / "plain.zarr", z, 16, complete=False)
    group = open_store(plain, mode="r+", require_complete=False)
    del group["split"]  # as an lsf before the split array wrote it
    finalize(group)
    argv = ["pca", "--latents", plain, "--out", out, "--components", "2", "--split", "test"]
    refused(capsys, argv, "the store records no split")


def test_an_existing_output_is_kept_without_overwrite(capsys, store, tmp_path):
    latents, _ = store
    out = tmp_path / "p"
    assert run_pca(latents, out, "--components", "2") == 0
    refused(capsys, ["pca", "--latents", latents, "--out", str(out), "--components", "3"], "exists")
    assert read_pca(str(out))[0].components.shape == (2, D)
