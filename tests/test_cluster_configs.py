"""The cluster files parse and validate against what Ray and KubeRay expect (offline)."""

import json
import subprocess
from pathlib import Path

import jsonschema
import ray
import yaml

ROOT = Path(__file__).resolve().parent.parent


def test_ray_cluster_launcher_config_validates():
    from ray.autoscaler._private.util import prepare_config, validate_config

    config = yaml.safe_load((ROOT / "ray-cluster.yaml").read_text())
    schema = json.loads((Path(ray.__file__).parent / "autoscaler" / "ray-schema.json").read_text())
    jsonschema.validate(config, schema)
    validate_config(prepare_config(config))
    head = config["head_start_ray_commands"][-1]
    assert "--dashboard-host=127.0.0.1" in head  # the job port is never public
    assert any("pip install -q -e" in c for c in config["setup_commands"])


def _check_group(spec: dict) -> None:
    containers = spec["template"]["spec"]["containers"]
    assert containers and all(c["image"] and c["name"] for c in containers)
    assert isinstance(spec["rayStartParams"], dict)


def test_kuberay_manifests_have_the_required_fields():
    cluster = yaml.safe_load((ROOT / "cluster" / "raycluster.yaml").read_text())
    job = yaml.safe_load((ROOT / "cluster" / "rayjob.yaml").read_text())
    assert (cluster["apiVersion"], cluster["kind"]) == ("ray.io/v1", "RayCluster")
    assert (job["apiVersion"], job["kind"]) == ("ray.io/v1", "RayJob")
    for spec in (cluster["spec"], job["spec"]["rayClusterSpec"]):
        assert spec["rayVersion"] == ray.__version__
        _check_group(spec["headGroupSpec"])
        for group in spec["workerGroupSpecs"]:
            _check_group(group)
            assert group["groupName"]
            assert group["minReplicas"] <= group["replicas"] <= group["maxReplicas"]
    script, *args = job["spec"]["entrypoint"].split()[1:]
    assert (ROOT / script).is_file()
    config = args[args.index("--config") + 1]
    assert (ROOT / config).is_file()


def test_local_cluster_script_is_valid_bash():
    result = subprocess.run(["bash", "-n", str(ROOT / "cluster" / "local-cluster.sh")])
    assert result.returncode == 0
