"""k8s/: every manifest validates offline; names, mounts, probes and wiring are the seed's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.dockerfiles import ROOT

kubernetes_validate = pytest.importorskip("kubernetes_validate")

K8S = ROOT / "k8s"
HELM_VALUES = {"kube-prometheus-stack-values.yaml"}  # Helm values, not a manifest
MANIFESTS = sorted(p for p in K8S.rglob("*.yaml") if p.name not in HELM_VALUES)
VERSION = "1.30.0"  # minikube's default line at the time of writing; schemas ship offline

SEED_FILES = ["pvc-data.yaml", "cm-kedro-conf.yaml", "job-ingestion.yaml",
              "job-data-preprocessing.yaml", "job-train.yaml", "job-model-evaluation.yaml",
              "ui-deployment.yaml", "ui-service.yaml", "ui-ingress.yaml"]


def docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


ALL = [(path, doc) for path in MANIFESTS for doc in docs(path)]


def by_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for _, d in ALL if d["kind"] == kind}


def _crd_model(doc: dict[str, Any]) -> Any:
    """A pydantic model generated from the operator's published CRD schema, or None."""
    if doc["apiVersion"] == "monitoring.coreos.com/v1":
        v1 = pytest.importorskip("cloudcoil.models.prometheus_operator.v1",
                                 reason="cloudcoil-models-prometheus-operator not installed")
        return getattr(v1, doc["kind"])
    return None


def test_the_seed_paths_exist() -> None:
    for name in SEED_FILES:
        assert (K8S / name).is_file(), name
    assert (K8S / "monitoring").is_dir()


@pytest.mark.parametrize(("path", "doc"), ALL,
                         ids=[f"{p.relative_to(K8S)}:{d['kind']}" for p, d in ALL])
def test_manifest_validates(path: Path, doc: dict[str, Any]) -> None:
    if "/" in doc["apiVersion"] and "." in doc["apiVersion"].split("/")[0] \
            and not doc["apiVersion"].split("/")[0].endswith("k8s.io"):
        model = _crd_model(doc)
        if model is None:
            pytest.skip(f"{doc['apiVersion']} {doc['kind']}: custom resource with no schema "
                        "available offline")
        parsed = model.model_validate(doc)
        # Unknown fields are dropped by the model: a round trip that loses nothing proves
        # every field is one the CRD defines (strict, like --strict below).
        assert parsed.model_dump(by_alias=True, exclude_unset=True, mode="json") == doc
        return
    kubernetes_validate.validate(doc, VERSION, strict=True)


def test_validation_rejects_a_typo() -> None:
    svc = dict(by_kind("Service")["bgbye-ui-svc"])
    svc["spec"] = {**svc["spec"], "selektor": {"a": "b"}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(svc, VERSION, strict=True)


def test_everything_lives_in_the_bgbye_namespace() -> None:
    assert "bgbye" in by_kind("Namespace")
    for path, doc in ALL:
        if doc["kind"] != "Namespace":
            assert doc["metadata"].get("namespace") == "bgbye", f"{path.name}:{doc['kind']}"


@pytest.mark.parametrize(("name", "pipeline"), [
    ("bgbye-ingestion", "data_ingestion"), ("bgbye-data-preprocessing", "data_preprocessing"),
    ("bgbye-train", "model_training"), ("bgbye-model-evaluation", "model_evaluation")])
def test_pipeline_jobs_mount_data_and_config(name: str, pipeline: str) -> None:
    job = by_kind("Job")[name]
    pod = job["spec"]["template"]["spec"]
    claims = {v["persistentVolumeClaim"]["claimName"] for v in pod["volumes"]
              if "persistentVolumeClaim" in v}
    maps = {v["configMap"]["name"] for v in pod["volumes"] if "configMap" in v}
    assert claims == {"bgbye-data"} and maps == {"bgbye-kedro-conf"}
    (container,) = pod["containers"]
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert {"/app/data", "/app/conf/k8s"} <= mounts
    env = {e["name"]: e.get("value") for e in container.get("env", [])}
    assert env["KEDRO_ENV"] == "k8s"
    assert container["resources"]["requests"] and container["resources"]["limits"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    command = " ".join(container.get("args", [])) + f" KEDRO_PIPELINE={env.get('KEDRO_PIPELINE')}"
    assert f"--pipeline={pipeline}" in command or f"KEDRO_PIPELINE={pipeline}" in command


def test_train_job_documents_the_optional_gpu() -> None:
    text = (K8S / "job-train.yaml").read_text()
    assert "# nvidia.com/gpu: 1" in text
    assert by_kind("Job")["bgbye-train"]["spec"]["template"]["spec"]["containers"][0]["image"] \
        .startswith("bgbye-train")


def test_configmap_overrides_only_known_parameters() -> None:
    cm = by_kind("ConfigMap")["bgbye-kedro-conf"]

    def paths(tree: Any, prefix: str = "") -> set[str]:
        if not isinstance(tree, dict):
            return {prefix}
        return {p for k, v in tree.items() for p in paths(v, f"{prefix}.{k}".strip("."))}

    for filename, text in cm["data"].items():
        base = yaml.safe_load((ROOT / "conf" / "base" / filename).read_text())
        override = yaml.safe_load(text)
        known = paths(base)
        for key in paths(override):
            assert key in known or any(k.startswith(key + ".") for k in known), \
                f"{filename}: {key} is not a parameter in conf/base"


def test_ui_deployment_service_ingress_hpa() -> None:
    deploy = by_kind("Deployment")["bgbye-ui"]
    pod = deploy["spec"]["template"]["spec"]
    (ui,) = pod["containers"]
    assert ui["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert ui["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert ui["resources"]["requests"] and ui["resources"]["limits"]
    secret_refs = [e["secretRef"]["name"] for e in ui.get("envFrom", []) if "secretRef" in e]
    assert secret_refs == ["bgbye-provider-keys"]
    port = ui["ports"][0]
    assert port["containerPort"] == 8080

    svc = by_kind("Service")["bgbye-ui-svc"]
    labels = deploy["spec"]["template"]["metadata"]["labels"]
    assert svc["spec"]["selector"].items() <= labels.items()
    assert svc["spec"]["ports"][0]["targetPort"] == port["name"]

    ingress = by_kind("Ingress")["bgbye-ui"]
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend["name"] == "bgbye-ui-svc"

    hpa = by_kind("HorizontalPodAutoscaler")["bgbye-ui"]
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                             "name": "bgbye-ui"}


def test_service_monitors_select_the_services() -> None:
    services = by_kind("Service")
    for monitor in by_kind("ServiceMonitor").values():
        wanted = monitor["spec"]["selector"]["matchLabels"]
        matches = [s for s in services.values()
                   if wanted.items() <= s["metadata"].get("labels", {}).items()]
        assert len(matches) == 1, monitor["metadata"]["name"]
        port_names = {p["name"] for p in matches[0]["spec"]["ports"]}
        assert {e["port"] for e in monitor["spec"]["endpoints"]} <= port_names
    assert by_kind("ServiceMonitor")["bgbye-pushgateway"]["spec"]["endpoints"][0]["honorLabels"]
    # The job label becomes "bgbye-ui", as in monitoring/alerts.yml and the dashboards.
    ui_monitor = by_kind("ServiceMonitor")["bgbye-ui"]
    assert services["bgbye-ui-svc"]["metadata"]["labels"][ui_monitor["spec"]["jobLabel"]] \
        == "bgbye-ui"


def test_prometheus_rule_is_generated_from_alerts_yml() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("sync", ROOT / "monitoring/sync_k8s_rules.py")
    assert spec and spec.loader
    sync = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sync)
    assert (K8S / "monitoring/prometheusrule.yaml").read_text() == sync.render(), \
        "run `python monitoring/sync_k8s_rules.py`"


def test_pushgateway_url_points_at_the_pushgateway_service() -> None:
    svc = by_kind("Service")["bgbye-pushgateway"]
    url = f"http://{svc['metadata']['name']}.bgbye.svc:{svc['spec']['ports'][0]['port']}"
    for name, job in by_kind("Job").items():
        env = {e["name"]: e.get("value")
               for e in job["spec"]["template"]["spec"]["containers"][0].get("env", [])}
        if "BGBYE_PUSHGATEWAY_URL" in env:
            assert env["BGBYE_PUSHGATEWAY_URL"] == url, name


def test_helm_values_select_bgbye_resources() -> None:
    values = yaml.safe_load((K8S / "monitoring/kube-prometheus-stack-values.yaml").read_text())
    spec = values["prometheus"]["prometheusSpec"]
    assert spec["serviceMonitorSelectorNilUsesHelmValues"] is False
    assert spec["ruleSelectorNilUsesHelmValues"] is False
    assert values["grafana"]["sidecar"]["dashboards"]["enabled"] is True
