"""The cluster files, checked offline against what Ray, KubeRay and the project pin: the
launcher config against Ray's schema, the KubeRay manifests against the CRDs' own schemas
(`../shared/schemas/kuberay/`, strict about unknown fields as `kubectl apply` is), the
Dockerfile and the runtime environments against pyproject.toml and the Makefile."""

import copy
import functools
import json
import os
import re
import shlex
import shutil
import subprocess
import tomllib
import zipfile
from pathlib import Path

import jsonschema
import pytest
import ray
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT.parent / "shared" / "schemas" / "kuberay"
CLUSTER = ROOT / "cluster"
MANIFESTS = {
    "raycluster": CLUSTER / "raycluster" / "raycluster.yaml",
    "rayjob": CLUSTER / "rayjob" / "rayjob.yaml",
    "rayjob-stock": CLUSTER / "rayjob-stock.yaml",
}
IMAGE_HOME = "/home/ray/lsf"  # where cluster/Dockerfile puts the repository


def load_yaml(path: Path):
    """`yaml.safe_load`, with libyaml's safe loader where present (the CRDs are 25,000 lines:
    8x faster)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(path.read_text(), Loader=loader)


@functools.cache
def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def makefile_torch_pin() -> str:
    return re.search(r"pip install -q (torch==\S+)", (ROOT / "Makefile").read_text()).group(1)


def expected_pip() -> list[str]:
    """The runtime-env pip list: pyproject's dependencies, torch pinned as the Makefile
    installs it, plus the s3 extra."""
    deps = [makefile_torch_pin() if Requirement(d).name == "torch" else d for d in dependencies()]
    return deps + pyproject()["project"]["optional-dependencies"]["s3"]


def dependencies() -> list[str]:
    return pyproject()["project"]["dependencies"]


def image_repository() -> str:
    component = load_yaml(CLUSTER / "image" / "kustomization.yaml")
    (image,) = component["images"]
    assert image["name"] == "lsf"
    return image["newName"]


# --- KubeRay: the CRDs' schemas, strict ---------------------------------------------------


def strict(schema):
    """The schema with unknown fields refused wherever it lists the known ones (Kubernetes
    prunes them silently; `kubectl apply`'s strict field validation refuses them)."""
    if isinstance(schema, dict):
        schema = {key: strict(value) for key, value in schema.items()}
        if (
            "properties" in schema
            and "additionalProperties" not in schema
            and not schema.get("x-kubernetes-preserve-unknown-fields")
        ):
            schema["additionalProperties"] = False
        return schema
    if isinstance(schema, list):
        return [strict(item) for item in schema]
    return schema


@functools.cache
def crd_validator(kind: str) -> jsonschema.Draft7Validator:
    name = {"RayCluster": "ray.io_rayclusters.yaml", "RayJob": "ray.io_rayjobs.yaml"}[kind]
    path = SCHEMAS / name
    assert path.is_file(), f"KubeRay CRD schema missing: {path}"
    crd = load_yaml(path)
    assert crd["spec"]["names"]["kind"] == kind
    (version,) = [v for v in crd["spec"]["versions"] if v["storage"]]
    assert version["name"] == "v1"
    return jsonschema.Draft7Validator(strict(version["schema"]["openAPIV3Schema"]))


def validate_manifest(manifest: dict) -> None:
    assert manifest["apiVersion"] == "ray.io/v1"
    crd_validator(manifest["kind"]).validate(manifest)


def cluster_spec(manifest: dict) -> dict:
    spec = manifest["spec"]
    return spec if manifest["kind"] == "RayCluster" else spec["rayClusterSpec"]


def groups(manifest: dict) -> list[dict]:
    spec = cluster_spec(manifest)
    return [spec["headGroupSpec"], *spec["workerGroupSpecs"]]


def containers(manifest: dict) -> list[dict]:
    return [c for g in groups(manifest) for c in g["template"]["spec"]["containers"]]


@pytest.mark.parametrize("name", MANIFESTS)
def test_kuberay_manifest_validates_against_the_crd_schema(name):
    manifest = load_yaml(MANIFESTS[name])
    validate_manifest(manifest)
    spec = cluster_spec(manifest)
    assert spec["rayVersion"] == ray.__version__
    assert spec["authOptions"] == {"mode": "token"}  # the job port needs the token
    for group in spec["workerGroupSpecs"]:
        assert group["minReplicas"] <= group["replicas"] <= group["maxReplicas"]
    for container in containers(manifest):
        limits, requests = container["resources"]["limits"], container["resources"]["requests"]
        assert limits == requests  # guaranteed pods: Ray sizes itself from them


def _set(document: dict, path: list, value) -> dict:
    broken = copy.deepcopy(document)
    target = broken
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return broken


HEAD = ["spec", "headGroupSpec", "template", "spec", "containers", 0]
BROKEN = {
    "image is not a string": (HEAD + ["image"], 42, "not of type 'string'"),
    "memory is not a quantity": (HEAD + ["resources", "limits", "memory"], "16 GB", "match"),
    "replicas is not an integer": (["spec", "workerGroupSpecs", 0, "replicas"], "two", "integer"),
    "mount without its path": (HEAD + ["volumeMounts", 0, "mountPath"], KeyError, "mountPath"),
    "misspelt field (volumeMount)": (HEAD + ["volumeMount"], [{"name": "x"}], "volumeMount' was"),
    "unknown RayCluster field": (["spec", "headGroupSpecs"], {}, "headGroupSpecs' was"),
}


@pytest.mark.parametrize("case", BROKEN)
def test_crd_schema_refuses_a_broken_raycluster(case):
    path, value, message = BROKEN[case]
    manifest = load_yaml(MANIFESTS["raycluster"])
    with pytest.raises(jsonschema.ValidationError, match=message):
        validate_manifest(_set(manifest, path, value))


RAYJOB_WORKER = ["spec", "rayClusterSpec", "workerGroupSpecs", 0, "template", "spec"]
BROKEN_JOB = {
    "entrypoint is not a string": (["spec", "entrypoint"], ["python", "x.py"], "'string'"),
    "shutdown flag is not a boolean": (["spec", "shutdownAfterJobFinishes"], "yes", "boolean"),
    "GPU count is not a quantity": (
        RAYJOB_WORKER + ["containers", 0, "resources", "limits", "nvidia.com/gpu"],
        "one",
        "does not match",
    ),
    "claim without its name": (
        RAYJOB_WORKER + ["volumes", 0, "persistentVolumeClaim", "claimName"],
        KeyError,
        "claimName",
    ),
    "runtime env as a mapping": (["spec", "runtimeEnvYAML"], {"working_dir": "."}, "'string'"),
}


@pytest.mark.parametrize("case", BROKEN_JOB)
def test_crd_schema_refuses_a_broken_rayjob(case):
    path, value, message = BROKEN_JOB[case]
    manifest = load_yaml(MANIFESTS["rayjob"])
    with pytest.raises(jsonschema.ValidationError, match=message):
        validate_manifest(_set(manifest, path, value))


def test_pvc_is_read_write_many_and_every_pod_mounts_it_at_shared():
    pvc = load_yaml(CLUSTER / "pvc.yaml")
    assert (pvc["apiVersion"], pvc["kind"]) == ("v1", "PersistentVolumeClaim")
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"]
    assert re.fullmatch(r"\d+[KMGTP]i", pvc["spec"]["resources"]["requests"]["storage"])
    for name in ("raycluster", "rayjob"):
        manifest = load_yaml(MANIFESTS[name])
        for group in groups(manifest):
            pod = group["template"]["spec"]
            claims = {
                v["name"]: v["persistentVolumeClaim"]["claimName"]
                for v in pod["volumes"]
                if "persistentVolumeClaim" in v
            }
            for container in pod["containers"]:
                mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
                assert claims[mounts["/shared"]] == pvc["metadata"]["name"], (name, group)


def test_manifests_use_the_lsf_image_with_gpu_builds_on_gpu_pods():
    version = pyproject()["project"]["version"]
    for name in ("raycluster", "rayjob"):
        for group in groups(load_yaml(MANIFESTS[name])):
            for container in group["template"]["spec"]["containers"]:
                gpus = "nvidia.com/gpu" in container["resources"]["limits"]
                assert container["image"] == f"lsf:{version}-{'gpu' if gpus else 'cpu'}"
    stock = load_yaml(MANIFESTS["rayjob-stock"])
    for container in containers(stock):
        assert container["image"] == f"rayproject/ray:{ray.__version__}-py311-cpu"


def _entrypoint(manifest: dict) -> tuple[Path, str, list[str]]:
    python, script, *args = shlex.split(manifest["spec"]["entrypoint"])
    assert python == "python"
    if script.startswith(IMAGE_HOME + "/"):
        script = script[len(IMAGE_HOME) + 1 :]
    return ROOT / script, args[args.index("--config") + 1], args


@pytest.mark.parametrize("name", ["rayjob", "rayjob-stock"])
def test_rayjob_entrypoint_runs_a_job_script_with_a_config_that_fits_the_cluster(name):
    from lsf.core.config import builtin_config_names, load_config

    manifest = load_yaml(MANIFESTS[name])
    script, config_name, args = _entrypoint(manifest)
    assert script.is_file() and script.parent.name == "jobs"
    assert config_name in builtin_config_names()
    config = load_config(config_name)
    gpus = sum(
        g.get("replicas", 1) * int(c["resources"]["limits"].get("nvidia.com/gpu", 0))
        for g in groups(manifest)
        for c in g["template"]["spec"]["containers"]
    )
    train_gpus = config.train.workers * config.train.gpus_per_worker
    encode_gpus = config.encode.gpus_per_actor
    assert train_gpus <= gpus and encode_gpus <= gpus
    workdir = args[args.index("--workdir") + 1]
    assert workdir.startswith("/shared/" if name == "rayjob" else "s3://")


def test_kustomize_names_the_image_in_one_place():
    repository = image_repository()
    for name in ("raycluster", "rayjob"):
        kustomization = load_yaml(CLUSTER / name / "kustomization.yaml")
        assert kustomization["resources"] == [MANIFESTS[name].name]
        assert kustomization["components"] == ["../image"]
        assert "images" not in kustomization
    # `make image` tags that name: IMAGE:VERSION-VARIANT
    env = {k: v for k, v in os.environ.items() if k not in ("IMAGE", "VARIANT", "MAKEFLAGS")}
    dry_run = subprocess.run(
        ["make", "-s", "-n", "-C", str(ROOT), "image", "VARIANT=gpu"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    command = shlex.split(dry_run.stdout.replace("\\\n", " "))
    version = pyproject()["project"]["version"]
    assert command[:4] == ["docker", "build", "-f", "cluster/Dockerfile"]
    assert command[command.index("--build-arg") + 1] == "VARIANT=gpu"
    assert command[command.index("-t") + 1] == f"{repository}:{version}-gpu"
    assert command[-1] == "."


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl (kustomize) not installed")
@pytest.mark.parametrize("name", ["raycluster", "rayjob"])
def test_kubectl_kustomize_renders_the_manifest_with_the_registry_image(name):
    result = subprocess.run(
        ["kubectl", "kustomize", str(CLUSTER / name)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    rendered = yaml.safe_load(result.stdout)
    validate_manifest(rendered)
    original = load_yaml(MANIFESTS[name])
    for before, after in zip(containers(original), containers(rendered), strict=True):
        assert after["image"] == image_repository() + before["image"].removeprefix("lsf")


# --- the launcher config ------------------------------------------------------------------


def test_ray_cluster_launcher_config_validates_and_runs_the_lsf_image():
    from ray.autoscaler._private.util import prepare_config, validate_config

    config = load_yaml(ROOT / "ray-cluster.yaml")
    schema = json.loads((Path(ray.__file__).parent / "autoscaler" / "ray-schema.json").read_text())
    jsonschema.validate(config, schema)
    validate_config(prepare_config(copy.deepcopy(config)))
    head = " ".join(config["head_start_ray_commands"])
    assert "--dashboard-host=127.0.0.1" in head  # the job port is never public
    assert "RAY_AUTH_MODE=token ray start --head" in head
    workers = " ".join(config["worker_start_ray_commands"])
    assert "RAY_AUTH_MODE=token ray start --address" in workers
    assert "~/.ray/auth_token" in config["file_mounts"]
    # the lsf image of the same registry as the Kubernetes manifests, GPU build on GPU nodes
    version, repository = pyproject()["project"]["version"], image_repository()
    docker = config["docker"]
    assert docker["head_image"] == f"{repository}:{version}-cpu"
    assert docker["worker_image"] == f"{repository}:{version}-gpu"
    cpu_worker = config["available_node_types"]["cpu_worker"]
    assert cpu_worker["docker"]["worker_image"] == f"{repository}:{version}-cpu"
    assert not config["setup_commands"]  # everything is in the image
    # /shared: mounted on the host before the container starts, and passed into it
    assert "--volume=/shared:/shared" in docker["run_options"]
    mount = " ".join(config["initialization_commands"])
    assert "mountpoint -q /shared" in mount and re.search(r"mount -t nfs4 .* /shared\)", mount)
    amis = {t["node_config"]["ImageId"] for t in config["available_node_types"].values()}
    assert len(amis) == 1  # one AMI, set in one place (a YAML anchor)


# --- the image ----------------------------------------------------------------------------


def dockerfile_problems(text: str) -> list[str]:
    """What in a Dockerfile disagrees with the project's pins (empty when nothing)."""
    lines = re.sub(r"\\\n", " ", text).splitlines()
    instructions = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    args = dict(re.findall(r"^ARG (\w+)=(\S+)$", "\n".join(instructions), re.M))
    problems = []
    if args.get("RAY_VERSION") != ray.__version__:
        problems.append(f"RAY_VERSION {args.get('RAY_VERSION')} is not Ray {ray.__version__}")
    ray_pin = next(d for d in dependencies() if Requirement(d).name == "ray")
    if args.get("RAY_VERSION") not in SpecifierSet(str(Requirement(ray_pin).specifier)):
        problems.append(f"RAY_VERSION does not satisfy pyproject's {ray_pin}")
    if args.get("VARIANT") != "cpu":
        problems.append("the default VARIANT is not cpu")
    python = pyproject()["tool"]["ruff"]["target-version"]  # py311
    froms = [i for i in instructions if i.startswith("FROM ")]
    if froms != [f"FROM rayproject/ray:${{RAY_VERSION}}-{python}-${{VARIANT}}"]:
        problems.append(f"base image {froms} is not rayproject/ray:RAY_VERSION-{python}-VARIANT")
    pip = [i.split("pip install", 1)[1].split("&&")[0] for i in instructions if "pip install" in i]
    installs = [shlex.split(words) for words in pip]
    requirements = [[a for a in words if a[0] not in "-$"] for words in installs]
    torch, deps, package = requirements if len(requirements) == 3 else ([], [], [])
    if torch != [makefile_torch_pin()]:
        problems.append(f"torch install {torch} is not the Makefile's {makefile_torch_pin()}")
    wanted = dependencies() + pyproject()["project"]["optional-dependencies"]["s3"]
    if deps != wanted:
        missing, extra = set(wanted) - set(deps), set(deps) - set(wanted)
        problems.append(f"dependencies differ from pyproject: missing {missing}, extra {extra}")
    if package != ["."] or "--no-deps" not in (installs[-1] if installs else []):
        problems.append("lsf itself is not installed last with --no-deps")
    copied = " ".join(i for i in instructions if i.startswith("COPY "))
    for needed in ("pyproject.toml", "lsf", "jobs"):
        if not re.search(rf"\s{re.escape(needed)}\s", copied + " "):
            problems.append(f"{needed} is not copied into the image")
    return problems


def test_dockerfile_builds_on_the_pinned_ray_image_with_the_pyproject_pins():
    text = (CLUSTER / "Dockerfile").read_text()
    assert dockerfile_problems(text) == []
    ignore = (CLUSTER / "Dockerfile.dockerignore").read_text().split()
    assert ignore[ignore.index("*") :][:1] == ["*"]  # an allow-list
    assert {"!pyproject.toml", "!README.md", "!lsf/", "!jobs/"} <= set(ignore)


DOCKERFILE_BREAKAGES = {
    "older Ray": ("ARG RAY_VERSION=2.60.0", "ARG RAY_VERSION=2.59.0", "is not Ray"),
    "other Python": ("-py311-", "-py310-", "base image"),
    "GPU by default": ("ARG VARIANT=cpu", "ARG VARIANT=gpu", "VARIANT"),
    "torch unpinned": ("torch==2.13.0\n", "torch\n", "torch install"),
    "a pin drifted": ('"numpy>=2.0"', '"numpy>=1.26"', "extra {'numpy>=1.26'}"),
    "a dependency dropped": ('    "numba>=0.60" \\\n', "", "missing {'numba>=0.60'}"),
    "lsf pulls its own deps": ("--no-deps .", ".", "--no-deps"),
}


@pytest.mark.parametrize("case", DOCKERFILE_BREAKAGES)
def test_dockerfile_lint_catches(case):
    old, new, message = DOCKERFILE_BREAKAGES[case]
    text = (CLUSTER / "Dockerfile").read_text()
    assert old in text
    (problem,) = [p for p in dockerfile_problems(text.replace(old, new)) if message in p]


# --- runtime environments -----------------------------------------------------------------


def test_runtime_envs_carry_the_checkout_and_pyprojects_pins():
    from ray.runtime_env import RuntimeEnv

    plain = load_yaml(ROOT / "jobs" / "runtime_env.yaml")
    with_pip = load_yaml(ROOT / "jobs" / "runtime_env_pip.yaml")
    assert set(plain) == {"working_dir", "excludes"}
    assert plain["working_dir"] == "."
    assert with_pip == {**plain, "pip": expected_pip()}
    stock = load_yaml(MANIFESTS["rayjob-stock"])
    stock_env = yaml.safe_load(stock["spec"]["runtimeEnvYAML"])
    assert stock_env["pip"] == expected_pip()
    assert re.fullmatch(r"https://\S+\.zip", stock_env["working_dir"])
    for env in (plain, with_pip, stock_env):
        RuntimeEnv(**env)  # Ray's own validation (field types, package extensions)
    for line in expected_pip():
        Requirement(line)  # every pip line is a valid requirement


def test_working_dir_upload_keeps_the_code_and_drops_outputs_environments_and_data(tmp_path):
    """Ray's own packaging with the runtime env's excludes, on a checkout with a user's files
    beside it (what would otherwise go up to the cluster, against Ray's 100 MB limit)."""
    from ray._private import ray_constants
    from ray._private.runtime_env.packaging import create_package

    checkout = tmp_path / "checkout"
    code = ["pyproject.toml"]
    for path in [*(ROOT / "lsf").rglob("*"), *(ROOT / "jobs").glob("*.py")]:
        if path.is_file() and "__pycache__" not in path.parts:
            code.append(path.relative_to(ROOT).as_posix())
    for name in code:
        (checkout / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, checkout / name)
    (checkout / "jobs" / "configs").symlink_to("../lsf/configs")
    configs = [f"jobs/configs/{c.name}" for c in (ROOT / "lsf" / "configs").iterdir()]
    junk = [
        "work/shards/part-0.parquet",
        "work/latents.zarr/z/c/0/0",
        "runs/latents.zarr/zarr.json",
        "out.tmp-1234/x",
        "work.lock",
        ".venv/lib/site.py",
        "venv/bin/python",
        ".conda/x",
        ".git/HEAD",
        "lsf/__pycache__/cli.cpython-311.pyc",
        ".pytest_cache/v/cache",
        ".hypothesis/examples/x",
        "lsf.egg-info/PKG-INFO",
        "data/celeba/img_align_celeba/000001.jpg",
        "datasets/faces/a.png",
        "model.pt",
        "big.npy",
        "faces.zip",
        "faces.tar.gz",
    ]
    for name in junk:
        (checkout / name).parent.mkdir(parents=True, exist_ok=True)
        (checkout / name).write_bytes(b"x" * 1000)
    env = load_yaml(ROOT / "jobs" / "runtime_env.yaml")
    excludes = ray_constants.get_runtime_env_default_excludes() + env["excludes"]
    package = tmp_path / "package.zip"
    create_package(str(checkout), package, include_gitignore=True, excludes=excludes)
    names = set(zipfile.ZipFile(package).namelist())
    files = {n for n in names if not n.endswith("/")}
    assert files == set(code) | set(configs)  # the code, the symlinked configs, nothing else


def test_local_cluster_script_is_valid_bash():
    result = subprocess.run(["bash", "-n", str(CLUSTER / "local-cluster.sh")])
    assert result.returncode == 0
    refused = subprocess.run(
        ["bash", str(CLUSTER / "local-cluster.sh"), "stop"],
        env={**os.environ, "LSF_RAY_TEMP": "relative/dir"},
        capture_output=True,
        text=True,
    )
    assert refused.returncode == 2 and "LSF_RAY_TEMP must be an absolute" in refused.stderr
