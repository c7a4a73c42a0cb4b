"""Every verb, `run` included, refuses every output path it cannot create with one line
`lsf VERB: error: ...` and exit code 2, before any work (or Ray) starts: one table of bad
paths drives all seven verbs. Read-only and full file systems are real tmpfs mounts where
the test may mount (root); as root, /sys stands for a folder without write permission."""

import os
import subprocess

import pytest

from lsf.cli import main

VERBS = {
    "prepare": lambda t, out: ["prepare", "--source", "synthetic", "--n", "10", "--out", out],
    "train": lambda t, out: ["train", "--shards", f"{t}/shards", "--out", out],
    "encode": lambda t, out: [
        "encode",
        "--shards",
        f"{t}/shards",
        "--model",
        f"{t}/m.pt",
        "--out",
        out,
    ],
    "analyze": lambda t, out: ["analyze", "--latents", f"{t}/l.zarr", "--out", out],
    "generate": lambda t, out: [
        "generate",
        "--model",
        f"{t}/m.pt",
        "--analysis",
        f"{t}/a",
        "--out",
        out,
    ],
    "report": lambda t, out: ["report", "--analysis", f"{t}/a", "--out", out],
    "run": lambda t, out: ["run", "--config", "tiny", "--workdir", out],
}


def _mount_tmpfs(folder, options: str) -> bool:
    folder.mkdir()
    if os.geteuid() != 0:
        return False
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"{options},size=64k", "tmpfs", str(folder)],
        capture_output=True,
    )
    return done.returncode == 0


@pytest.fixture(scope="module")
def places(tmp_path_factory):
    """The bad paths: name -> (output path or None when this machine cannot make it,
    text the error line must contain)."""
    root = tmp_path_factory.mktemp("bad")
    (root / "a-file").write_text("in the way")
    readonly, full = root / "readonly", root / "full"
    mounted = [p for p, o in ((readonly, "ro"), (full, "rw")) if _mount_tmpfs(p, o)]
    if full in mounted:
        with open(full / "filler", "wb", buffering=0) as f:
            try:
                while True:
                    f.write(b"\0" * 4096)
            except OSError:
                pass
    if os.geteuid() == 0:
        denied = "/sys/lsf-out"
    else:
        (root / "locked").mkdir(mode=0o500)
        denied = str(root / "locked" / "out")
    yield {
        "missing parent": ("/proc/lsf-missing/deeper/out", "/proc/lsf-missing"),
        "file in the way": (str(root / "a-file" / "out"), "a-file"),
        "no permission": (denied, "ermi"),
        "/proc": ("/proc/lsf-out", "/proc"),
        "read-only": (str(readonly / "out") if readonly in mounted else None, "ead-only"),
        "full disk": (str(full / "out") if full in mounted else None, "space"),
    }
    for folder in mounted:
        subprocess.run(["umount", str(folder)], check=False)


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "place",
    ["missing parent", "file in the way", "no permission", "/proc", "read-only", "full disk"],
)
@pytest.mark.parametrize("verb", list(VERBS))
def test_every_verb_refuses_an_output_it_cannot_create(verb, place, places, tmp_path, capsys):
    out, expected = places[place]
    if out is None:
        pytest.skip(f"cannot make a {place} file system here (needs root and mount)")
    code = main(VERBS[verb](str(tmp_path), out))
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith(f"lsf {verb}: error: "), err
    assert expected in lines[0], err
    assert "Traceback" not in err
    assert not os.path.exists(out)
