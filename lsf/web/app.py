"""The `lsf explore` web app: a Starlette ASGI app serving the page and a small JSON API.

GET  /                      the page (static/index.html; JS and CSS from /static, no CDN)
GET  /api/info              dimensions, PCA axes of the sliders, samplers, id range, regions
                            (share, colour, centre) when the analysis has them
POST /api/decode  {z}       decoded image + where z sits (d2, chi2 percentile, verdict; region)
POST /api/sample  {sampler, n, seed}      decoded draws of a sampler, with their latents
POST /api/project {id}      a real image, its latent and its reconstruction
POST /api/path    {kind, steps, a, b}     origin_to_centre or interpolate (ids a, b)
GET  /api/pair?system=pca&i=0&j=1         density contours and ellipses of a pair (and the
                            analysis's map sample on it, labelled by region)
Bad requests get HTTP 422 with {"error": message}. `build_app(explorer)` makes the app;
`lsf explore` runs it with uvicorn, `lsf.web.serve` inside Ray Serve.
"""

from __future__ import annotations

import importlib.resources
import math

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from lsf.core.errors import LsfError
from lsf.web import requests as checks
from lsf.web.explorer import MAX_SAMPLES, MAX_STEPS, Explorer
from lsf.web.panels import SYSTEMS

STATIC = importlib.resources.files("lsf.web") / "static"


async def _body(request: Request) -> dict:
    """The JSON object of a request, read up to the size limit."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > checks.MAX_BODY_BYTES:
            raise checks.RequestError(f"request body over {checks.MAX_BODY_BYTES} bytes")
        chunks.append(chunk)
    return checks.parse_body(b"".join(chunks))


def finite(value):
    """`value` with every non-finite float replaced by None (JSON has no NaN)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value


def _answer(handler):
    """JSON responses; refused requests (and errors the user can fix) are 422."""

    async def endpoint(request: Request):
        try:
            return JSONResponse(finite(await handler(request)))
        except (checks.RequestError, LsfError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=422)

    return endpoint


def build_app(explorer: Explorer) -> Starlette:
    dim = explorer.dim

    async def info(request: Request) -> dict:
        return explorer.info()

    async def decode(request: Request) -> dict:
        data = await _body(request)
        checks.check_keys(data, ("z",))
        return await explorer.decode(checks.latent(data, "z", dim))

    async def sample(request: Request) -> dict:
        data = await _body(request)
        checks.check_keys(data, ("sampler", "n", "seed"))
        name = checks.choice(data.get("sampler"), "sampler", explorer.samplers)
        n = checks.integer(data, "n", 1, MAX_SAMPLES, default=16)
        seed = checks.integer(data, "seed", 0, 2**31 - 1, default=0)
        return await explorer.sample(name, n, seed)

    async def project(request: Request) -> dict:
        data = await _body(request)
        checks.check_keys(data, ("id",))
        return await explorer.project(checks.image_id(data, "id", explorer.images.n))

    async def path(request: Request) -> dict:
        data = await _body(request)
        checks.check_keys(data, ("kind", "steps", "a", "b"))
        kind = checks.choice(data.get("kind"), "kind", ("origin_to_centre", "interpolate"))
        steps = checks.integer(data, "steps", 2, MAX_STEPS, default=12)
        a = b = None
        if kind == "interpolate":
            a = checks.image_id(data, "a", explorer.images.n)
            b = checks.image_id(data, "b", explorer.images.n)
        return await explorer.path(kind, steps, a, b)

    async def pair(request: Request) -> dict:
        params = request.query_params
        unknown = sorted(set(params) - {"system", "i", "j"})
        if unknown:
            raise checks.RequestError(f"unknown query parameter {unknown[0][:40]!r}")
        system = checks.choice(params.get("system", "original"), "system", SYSTEMS)
        i = checks.query_integer(params, "i", 0, dim - 1)
        j = checks.query_integer(params, "j", 0, dim - 1)
        if i == j:
            raise checks.RequestError("i and j must be two different components")
        return await run_in_threadpool(explorer.pair, system, i, j)

    async def page(request: Request):
        return FileResponse(str(STATIC / "index.html"), headers={"Cache-Control": "no-cache"})

    return Starlette(
        routes=[
            Route("/", page),
            Route("/api/info", _answer(info)),
            Route("/api/decode", _answer(decode), methods=["POST"]),
            Route("/api/sample", _answer(sample), methods=["POST"]),
            Route("/api/project", _answer(project), methods=["POST"]),
            Route("/api/path", _answer(path), methods=["POST"]),
            Route("/api/pair", _answer(pair)),
            Mount("/static", StaticFiles(directory=str(STATIC)), name="static"),
        ]
    )
