"""deploy/: the compose file, the image and the load balancer hold together (read as files: no Docker needed).

Where Docker is installed, ``docker compose config`` checks the compose file as Docker reads it as well."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


@pytest.fixture(scope="module")
def dockerfile() -> list[str]:
    """The Dockerfile's instructions, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", (DEPLOY / "Dockerfile").read_text())
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


@pytest.fixture(scope="module")
def haproxy() -> str:
    return (DEPLOY / "haproxy.cfg").read_text()


def _default(value: str) -> str:
    """The default of a compose interpolation ``${NAME:-default}`` (the value itself when it is none)."""
    match = re.fullmatch(r"\$\{\w+:-(.*)\}", str(value))
    return match.group(1) if match else str(value)


def _instructions(dockerfile, keyword: str) -> list[str]:
    return [line[len(keyword):].strip() for line in dockerfile if line.upper().startswith(keyword + " ")]


def test_services_and_replicas(compose):
    services = compose["services"]
    assert {"app", "lb", "db"} <= set(services)
    replicas = services["app"]["deploy"]["replicas"]
    assert replicas.startswith("${GENLAB_REPLICAS:-") and int(_default(replicas)) >= 2
    for name in ("app", "lb", "db"):
        assert "profiles" not in services[name], f"{name} must start without a profile"


def test_app_talks_to_postgres_once_it_is_healthy(compose):
    app, db = compose["services"]["app"], compose["services"]["db"]
    assert app["environment"]["GENLAB_DATABASE_URL"] == "postgresql+psycopg://genlab:genlab@db:5432/genlab"
    assert app["depends_on"]["db"]["condition"] == "service_healthy"
    assert db["image"] == "postgres:16"
    assert (db["environment"]["POSTGRES_USER"], db["environment"]["POSTGRES_PASSWORD"],
            db["environment"]["POSTGRES_DB"]) == ("genlab", "genlab", "genlab")
    assert "pg_isready" in " ".join(db["healthcheck"]["test"])
    volume = db["volumes"][0].split(":")[0]
    assert volume in compose["volumes"], "the database keeps its data in a named volume"


def test_ray_is_a_profile_and_off_by_default(compose):
    services = compose["services"]
    ray_services = [name for name, s in services.items() if "ray" in s.get("profiles", [])]
    assert "ray-head" in ray_services
    assert "ray start --head" in services["ray-head"]["command"]
    assert "--ray-client-server-port=10001" in services["ray-head"]["command"]
    assert _default(services["app"]["environment"]["GENLAB_RAY_ADDRESS"]) == "", "no Ray unless asked for"
    for name in ray_services:  # the app's Ray client and the nodes: one image, one ray
        assert services[name]["image"] == services["app"]["image"]
    assert services["app"]["build"]["args"]["REQUIREMENTS"] == "requirements-ray.txt"


def test_image_builds_from_files_that_exist(compose, dockerfile):
    build = compose["services"]["app"]["build"]
    context = (DEPLOY / build["context"]).resolve()
    assert context == ROOT
    assert (context / build["dockerfile"]).is_file()
    assert _instructions(dockerfile, "FROM") == ["python:3.11-slim"]
    ignored = {line.strip().rstrip("/") for line in (ROOT / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")}
    copied = []
    for args in _instructions(dockerfile, "COPY"):
        sources = [a for a in shlex.split(args) if not a.startswith("--")][:-1]
        copied += sources
    assert {"app.py", "genlib", "ui", "pages", "lectures", "pretrained", ".streamlit"} <= set(copied)
    for source in copied:
        assert (context / source).exists(), f"COPY {source}: not in the repository"
        assert source not in ignored, f"COPY {source}: .dockerignore leaves it out of the build context"


def test_image_installs_the_pinned_cpu_requirements(dockerfile):
    default = next(a.split("=", 1)[1] for a in _instructions(dockerfile, "ARG") if a.startswith("REQUIREMENTS="))
    assert default == "requirements.txt"
    install = " ".join(_instructions(dockerfile, "RUN"))
    assert "pip install --extra-index-url https://download.pytorch.org/whl/cpu" in install
    for name in ("requirements.txt", "requirements-ray.txt"):
        assert (ROOT / name).is_file()
    assert "torch==2.13.0" in (ROOT / "requirements.txt").read_text().split()
    ray_requirements = (ROOT / "requirements-ray.txt").read_text().split()
    assert "-r" in ray_requirements and "requirements.txt" in ray_requirements and "ray==2.60.0" in ray_requirements


def test_image_has_a_c_compiler_for_the_stacked_runs_loops(dockerfile):
    """genlib.native builds its loops with the image's cc, for the CPU the container runs on."""
    runs = _instructions(dockerfile, "RUN")
    installs = [r for r in runs if "apt-get install" in r]
    assert installs and {"gcc", "libc6-dev"} <= set(installs[0].split())
    assert "rm -rf /var/lib/apt/lists/*" in installs[0]
    assert dockerfile.index(next(line for line in dockerfile if "apt-get install" in line)) < \
        dockerfile.index(next(line for line in dockerfile if line.startswith("USER")))


def test_image_runs_streamlit_as_a_user_with_a_health_check(dockerfile):
    user = _instructions(dockerfile, "USER")
    assert user and user[-1] not in ("root", "0")
    health = " ".join(_instructions(dockerfile, "HEALTHCHECK"))
    assert "/_stcore/health" in health and "urllib" in health and "curl" not in health
    cmd = yaml.safe_load(_instructions(dockerfile, "CMD")[-1])  # the exec form is a JSON list
    assert cmd == ["streamlit", "run", "app.py", "--server.address", "0.0.0.0", "--server.port", "8501"]


def test_load_balancer_is_sticky_and_finds_the_replicas(compose, haproxy):
    lb, app = compose["services"]["lb"], compose["services"]["app"]
    assert any(v.startswith("./haproxy.cfg:") for v in lb["volumes"])
    published, inside = lb["ports"][0].rsplit(":", 1)
    assert _default(published.strip('"')) == "8501"
    assert re.search(rf"^\s*bind :{inside}\s*$", haproxy, re.M)
    # every replica of the service "app" on the port it serves, found by Docker's DNS
    port = app["expose"][0]
    template = re.search(r"^\s*server-template \w+ (\d+) (\S+):(\d+)", haproxy, re.M)
    assert template and template.group(2) == "app" and template.group(3) == port
    assert int(template.group(1)) >= int(_default(app["deploy"]["replicas"]))
    assert re.search(r"^resolvers docker\s*\n\s*nameserver \w+ 127\.0\.0\.11:53", haproxy, re.M)
    servers = re.findall(r"^\s*(?:default-server|server-template) .*$", haproxy, re.M)
    assert any("resolvers docker" in line for line in servers) and any("check" in line.split() for line in servers)
    # sticky by a cookie the balancer inserts; websockets (tunnels) live long
    cookie = re.search(r"^\s*cookie (\w+) insert .*$", haproxy, re.M)
    assert cookie and "dynamic" in cookie.group(0) and "secure" not in cookie.group(0).split()
    assert re.search(r"^\s*dynamic-cookie-key \S+", haproxy, re.M)
    assert re.search(r"^\s*timeout tunnel (\d+)h", haproxy, re.M)
    assert re.search(r"^\s*mode http", haproxy, re.M), "HTTP mode: cookies and the websocket upgrade"
    assert "option httpchk GET /_stcore/health" in haproxy


def _has_compose() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=30).returncode == 0


@pytest.mark.skipif(not _has_compose(), reason="Docker Compose is not installed here (no docker, or a docker CLI "
                    "without the compose plugin): `docker compose config` cannot check the compose file")
def test_docker_compose_config_accepts_the_file():
    for profile in ([], ["--profile", "ray"]):
        done = subprocess.run(["docker", "compose", "-f", str(DEPLOY / "compose.yaml"), *profile, "config"],
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
