"""The UI's job state is shared, never per pod: PostgreSQL through a Secret, a ReadWriteMany
volume for files, a PodDisruptionBudget, a grace period that covers the job hand-back; compose
runs the same shape with a postgres service."""

from __future__ import annotations

from typing import Any

import yaml

from tests.deploy.dockerfiles import ROOT
from tests.deploy.test_k8s import K8S, by_kind


def _ui() -> tuple[dict[str, Any], dict[str, Any]]:
    pod = by_kind("Deployment")["bgbye-ui"]["spec"]["template"]["spec"]
    (ui,) = pod["containers"]
    return pod, ui


def test_ui_job_state_is_shared_not_per_pod() -> None:
    pod, ui = _ui()
    volumes = {v["name"]: v for v in pod["volumes"]}
    storage_mount = next(m for m in ui["volumeMounts"] if m["mountPath"] == "/var/lib/bgbye")
    storage = volumes[storage_mount["name"]]
    assert "emptyDir" not in storage
    claim = by_kind("PersistentVolumeClaim")[storage["persistentVolumeClaim"]["claimName"]]
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    env = {e["name"]: e for e in ui["env"]}
    ref = env["BGBYE_DATABASE_URL"]["valueFrom"]["secretKeyRef"]
    secret = by_kind("Secret")[ref["name"]]
    assert secret["stringData"][ref["key"]].startswith("postgresql://")
    host = secret["stringData"][ref["key"]].split("@", 1)[1].split(":")[0]
    assert host == "bgbye-postgres.bgbye.svc" and "bgbye-postgres" in by_kind("Service")
    assert env["BGBYE_REPLICA"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"


def test_the_postgres_statefulset_keeps_its_data() -> None:
    sts = by_kind("StatefulSet")["bgbye-postgres"]
    assert sts["spec"]["serviceName"] == "bgbye-postgres"
    (template,) = sts["spec"]["volumeClaimTemplates"]
    (pg,) = sts["spec"]["template"]["spec"]["containers"]
    data = next(m for m in pg["volumeMounts"] if m["mountPath"] == "/var/lib/postgresql/data")
    assert data["name"] == template["metadata"]["name"]
    svc = by_kind("Service")["bgbye-postgres"]
    assert svc["spec"]["selector"].items() <= sts["spec"]["template"]["metadata"]["labels"].items()


def test_graceful_shutdown_fits_the_grace_period_and_a_pdb_guards_the_ui() -> None:
    pod, ui = _ui()
    env = {e["name"]: e.get("value") for e in ui["env"]}
    pre_stop = int(ui["lifecycle"]["preStop"]["exec"]["command"][1])
    # preStop, then up to the job grace, then a few seconds to release leases and exit.
    assert pre_stop + float(env["BGBYE_SHUTDOWN_GRACE_SECONDS"]) + 10 \
        <= pod["terminationGracePeriodSeconds"]
    pdb = by_kind("PodDisruptionBudget")["bgbye-ui"]
    labels = by_kind("Deployment")["bgbye-ui"]["spec"]["template"]["metadata"]["labels"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert pdb["spec"]["minAvailable"] >= 1


def test_docs_no_longer_ask_for_session_affinity() -> None:
    text = (ROOT / "docs" / "deployment.md").read_text().lower()
    assert "session affinity" not in text or "no session affinity" in text
    assert "sessionAffinity" not in (K8S / "ui-service.yaml").read_text()


def test_compose_runs_the_ui_on_postgres() -> None:
    compose = yaml.safe_load((ROOT / "docker" / "compose.yaml").read_text())
    ui, pg = compose["services"]["ui"], compose["services"]["postgres"]
    assert ui["environment"]["BGBYE_DATABASE_URL"].startswith("postgresql://")
    assert "@postgres:5432/" in ui["environment"]["BGBYE_DATABASE_URL"]
    assert ui["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "pg_isready" in pg["healthcheck"]["test"]
    assert any(v.endswith(":/var/lib/postgresql/data") for v in pg["volumes"])
