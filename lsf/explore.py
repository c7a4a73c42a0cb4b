"""`lsf explore`: walk the latent space in a browser, with the analysis at every point.

Loads the model (any kind of `lsf.nn.kinds`, weights only; optional: without one the
analysis, pairs and real images are served and decoded views say they need a model) and the
analysis, checks that they and the optional latent
store and shards fit together, and serves the web app (`lsf.web.app`) with uvicorn on
127.0.0.1 (a warning when bound elsewhere); prints the URL. With `--serve` the same app is
deployed as a Ray Serve application on a Ray cluster instead (`lsf.web.serve`).
Run: `lsf explore --model work/run/model.pt --analysis work/analysis --latents
work/latents.zarr` and open the printed URL.
"""

from __future__ import annotations

import socket
import sys

from lsf.core.errors import LsfError

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def listening_socket(host: str, port: int) -> socket.socket:
    """A bound, listening TCP socket (port 0: any free port), or a one-line error."""
    if not 0 <= port <= 65535:
        raise LsfError(f"--port must be in 0..65535, got {port}")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise LsfError(f"--host {host!r} cannot be resolved ({exc.strerror})") from None
    family, _, _, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise LsfError(
            f"cannot listen on {host}:{port} ({exc.strerror}); pick another --port"
        ) from None
    sock.set_inheritable(True)
    return sock


def host_warning(host: str) -> str | None:
    """The warning for an address other machines can reach (None for loopback)."""
    if host in LOOPBACK:
        return None
    return (
        f"lsf explore: warning: listening on {host}, reachable from other machines; the app "
        "has no authentication (keep the default 127.0.0.1 and use a port-forward)"
    )


def url_of(sock: socket.socket, host: str) -> str:
    port = sock.getsockname()[1]
    shown = socket.gethostname() if host in ("0.0.0.0", "::") else host
    return f"http://[{shown}]:{port}/" if ":" in shown else f"http://{shown}:{port}/"


class NoDecoder:
    """The codec of `lsf explore` without a model: the analysis, pairs and real images by id
    are served; every decoded view answers that it needs a decoder (HTTP 422, one line)."""

    def __init__(self, latent_dim: int):
        self.latent_dim = latent_dim

    async def decode(self, latents):
        raise LsfError("decoding needs a model: restart lsf explore with --model")

    async def encode(self, images):
        raise LsfError("encoding needs a model: restart lsf explore with --model")


def analysis_latent_dim(analysis: str) -> int:
    """D of an analysis folder (refused in one line when absent or of another format)."""
    from lsf.stats.analysis_store import read

    return read(analysis).latent_dim


def load_codec(model, analysis: str):
    """`(codec, image shape)`: the model (any kind, `lsf.nn.kinds`) batched in this process,
    or `NoDecoder` when `model` is None."""
    if model is None:
        return NoDecoder(analysis_latent_dim(analysis)), None
    from lsf.nn.kinds import load_latent_model
    from lsf.web.batching import LocalCodec

    latent_model = load_latent_model(model)
    return LocalCodec(latent_model), latent_model.image_shape


def explore(
    model,
    analysis: str,
    *,
    latents: str | None = None,
    shards: str | None = None,
    host: str = "127.0.0.1",
    port: int = 8000,
    components: int = 8,
    threads: int = 1,
) -> int:
    """Serve the app until Ctrl-C; returns the exit code. `model`: lsf's RUN/model.pt, a
    model YAML or a `ModelConfig` of any kind, or None (no decoding). `threads`: torch threads for
    decoding (0: torch's default); one keeps the latency steady on a busy machine, where
    several spinning threads per decode were 10x slower (measured on this 2-core machine)."""
    import torch
    import uvicorn

    from lsf.web.app import build_app
    from lsf.web.explorer import load_explorer

    if components < 1:
        raise LsfError(f"--components must be >= 1, got {components}")
    if threads < 0:
        raise LsfError(f"--threads must be >= 0, got {threads}")
    codec, image_shape = load_codec(model, analysis)
    explorer = load_explorer(
        analysis,
        codec,
        latents=latents,
        shards=shards,
        image_shape=image_shape,
        components=components,
    )
    sock = listening_socket(host, port)
    if threads:  # set only once every input is accepted: the process now only serves
        torch.set_num_threads(threads)
    warning = host_warning(host)
    if warning:
        print(warning, file=sys.stderr)
    images = explorer.images
    sources = [f"{images.n} real images" if images.n else "no real images (give --latents)"]
    if images.n and images.manifest is None:
        sources.append("no source pixels (give --shards)")
    if model is None:
        sources.append("no decoder (give --model to see decoded images)")
    print(f"lsf explore: {explorer.dim}-dim latents, {', '.join(sources)}")
    print(f"lsf explore: open {url_of(sock, host)}  (Ctrl-C stops)", flush=True)
    server = uvicorn.Server(
        uvicorn.Config(build_app(explorer), log_level="warning", access_log=False)
    )
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
    print("lsf explore: stopped")
    return 0


def deploy_on_serve(settings: dict, address: str | None) -> int:
    """Deploy the app on the Ray cluster at `address` (Ray Serve) and return."""
    from lsf.core.errors import from_worker
    from lsf.core.runtime import init_ray
    from lsf.web import serve as explore_serve

    settings = explore_serve.settings_from_args(settings)  # refused before joining Ray
    init_ray(address)
    try:
        explore_serve.deploy(settings)
    except LsfError:
        raise
    except Exception as exc:  # Serve reports a failed deployment as RuntimeError + traceback
        raise from_worker(exc, "deploying lsf explore on Ray Serve") from None
    print(
        f"lsf explore: deployed as Ray Serve application {explore_serve.APP_NAME!r} on port "
        "8000 of the head node; forward it (`kubectl port-forward svc/HEAD-svc 8000` or "
        "`ray attach CLUSTER.yaml -p 8000`) and open http://127.0.0.1:8000/; "
        f"`serve delete {explore_serve.APP_NAME}` stops it"
    )
    return 0
