"""compose.yaml, checked for what can be checked without starting containers here.

It parses; each ``${NAME:-default}`` is one of the variables the docs list; every
``SAILBRIDGE_*`` it sets is a setting sailbridge knows, and the values (with the defaults,
and with the production example filled in) load without a settings error; the images
are this tree's Dockerfile or a pinned tag; ports, hosts and credentials agree between
the services (the nodes' database is the postgres service's, their Sailthru is the
sandbox's address and keys, published ports are the ones listened on). Whether the
postgres tag exists on Docker Hub cannot be checked here: no registry is reachable.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import typer.main
import yaml

from sailbridge.cli.app import app
from sailbridge.sandbox.config import SandboxConfig
from sailbridge.settings import Settings, load_settings

from .conftest import ROOT, require_tool, run

COMPOSE = ROOT / "compose.yaml"
PRODUCTION_EXAMPLE = ROOT / "deploy" / "production.env.example"
NODES = ("sailbridge-1", "sailbridge-2")
VARIABLE = re.compile(r"\$\{(?P<name>[A-Z_][A-Z0-9_]*)(?::-(?P<default>[^}]*))?\}")
OPTIONAL_VARIABLES = {"SAILBRIDGE_IMAGE_TAG"}
"""Variables with a default that production may keep (the others are in the example)."""


def filled_production_variables() -> dict[str, str]:
    """The production example with a placeholder in every blank."""
    return {
        name: value or f"{name.lower()}-0123456789abcdef"
        for name, value in production_variables().items()
    }


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    return loaded


def interpolate(value: Any, variables: dict[str, str]) -> Any:
    """Compose's ``${NAME}`` / ``${NAME:-default}`` (an empty value takes the default)."""
    if isinstance(value, str):
        return VARIABLE.sub(lambda m: variables.get(m["name"]) or m["default"] or "", value)
    if isinstance(value, dict):
        return {key: interpolate(item, variables) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, variables) for item in value]
    return value


def production_variables() -> dict[str, str]:
    lines = PRODUCTION_EXAMPLE.read_text(encoding="utf-8").splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def published(service: dict[str, Any]) -> dict[int, int]:
    """Container port → host port, from ``"HOST:CONTAINER"`` entries."""
    pairs = (str(port).rsplit(":", 2)[-2:] for port in service.get("ports", []))
    return {int(container): int(host) for host, container in pairs}


def test_it_parses_with_the_services_a_deployment_needs() -> None:
    services = compose()["services"]
    assert set(services) == {"postgres", *NODES, "sandbox"}
    assert services["sandbox"]["profiles"] == ["demo"]
    assert all("profiles" not in services[name] for name in ("postgres", *NODES))
    for node in NODES:
        assert services[node]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert len({host for node in NODES for host in published(services[node]).values()}) == 2


def test_every_variable_is_listed_for_production_and_every_listed_one_is_used() -> None:
    used = {match["name"] for match in VARIABLE.finditer(yaml.safe_dump(compose(), width=1000))}
    listed = set(production_variables())
    assert used - OPTIONAL_VARIABLES == listed
    documented = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    assert not [name for name in used if f"`{name}`" not in documented]


@pytest.mark.parametrize("variables", ["defaults", "production"])
def test_the_nodes_settings_are_known_and_load(
    variables: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    given = {} if variables == "defaults" else filled_production_variables()
    for node in NODES:
        environment = interpolate(compose()["services"][node]["environment"], given)
        unknown = [
            name
            for name in environment
            if not name.startswith("SAILBRIDGE_")
            or name.removeprefix("SAILBRIDGE_").lower() not in Settings.model_fields
        ]
        assert unknown == []
        for name, value in environment.items():
            monkeypatch.setenv(name, str(value))
        settings = load_settings()
        assert settings.credentials() and settings.write_key_set
        assert settings.host == "0.0.0.0"
        if variables == "production":
            assert settings.sailthru_base_url == "https://api.sailthru.com"
            assert settings.pageview_base_url == "https://api.sail-track.com"
            assert settings.admin_token is not None


@pytest.mark.parametrize("variables", ["defaults", "production"])
def test_docker_compose_validates_it_and_resolves_it_as_these_tests_do(
    variables: str, tmp_path: Path
) -> None:
    """Compose's own schema check and interpolation (docker-compose 1.29, Debian's: it
    needs no daemon for ``config``), so the checks above read what compose would run."""
    tool = require_tool("docker-compose")
    given = {} if variables == "defaults" else filled_production_variables()
    environment = {
        name: value
        for name, value in os.environ.items()
        if name not in production_variables() and name not in OPTIONAL_VARIABLES
    }
    no_env_file = tmp_path / "empty.env"  # not a developer's .env beside compose.yaml
    no_env_file.write_text("")
    resolved = yaml.safe_load(
        run(
            tool,
            "--env-file",
            str(no_env_file),
            "--file",
            str(COMPOSE),
            "--profile",
            "demo",
            "config",
            env={**environment, **given},
            cwd=tmp_path,
        ).stdout
    )
    assert set(resolved["services"]) == set(compose()["services"])
    for name, service in compose()["services"].items():
        ours = interpolate(service.get("environment", {}), given)
        assert resolved["services"][name].get("environment", {}) == {
            key: str(value) for key, value in ours.items()
        }, name
        assert resolved["services"][name]["image"] == interpolate(service["image"], given)


def test_images_are_this_tree_or_a_pinned_tag() -> None:
    services = compose()["services"]
    version = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"][
        "version"
    ]
    for name in (*NODES, "sandbox"):
        assert (ROOT / services[name]["build"] / "Dockerfile").is_file()
        assert interpolate(services[name]["image"], {}) == f"localhost/sailbridge:{version}"
    postgres = services["postgres"]["image"]
    assert re.fullmatch(r"docker\.io/library/postgres:\d+[\w.-]*", postgres), postgres


def test_ports_hosts_and_credentials_agree() -> None:
    services = compose()["services"]
    postgres = services["postgres"]["environment"]
    exposed = re.search(
        r"^EXPOSE (\d+)$", (ROOT / "Dockerfile").read_text(encoding="utf-8"), re.MULTILINE
    )
    assert exposed is not None
    sandbox_command = services["sandbox"]["command"]
    # The sandbox's command line is one `sailbridge sandbox` takes.
    sandbox_options = (
        typer.main.get_command(app)
        .commands["sandbox"]
        .make_context(  # type: ignore[attr-defined]
            "sandbox", sandbox_command[1:]
        )
        .params
    )
    assert sandbox_command[0] == "sandbox"
    assert published(services["sandbox"]) == {sandbox_options["port"]: sandbox_options["port"]}
    assert f":{sandbox_options['port']}/" in " ".join(services["sandbox"]["healthcheck"]["test"])
    defaults = SandboxConfig()
    for node in NODES:
        environment = interpolate(services[node]["environment"], {})
        port = int(environment["SAILBRIDGE_PORT"])
        assert port == int(exposed[1]) and set(published(services[node])) == {port}
        database = urlsplit(environment["SAILBRIDGE_DATABASE"])
        assert (database.hostname, database.port or 5432) == ("postgres", 5432)
        assert (database.username, database.password, database.path) == (
            postgres["POSTGRES_USER"],
            interpolate(postgres["POSTGRES_PASSWORD"], {}),
            f"/{postgres['POSTGRES_DB']}",
        )
        for url in ("SAILBRIDGE_SAILTHRU_BASE_URL", "SAILBRIDGE_PAGEVIEW_BASE_URL"):
            where = urlsplit(environment[url])
            assert (where.hostname, where.port) == ("sandbox", sandbox_options["port"])
        assert (
            environment["SAILBRIDGE_SAILTHRU_API_KEY"],
            environment["SAILBRIDGE_SAILTHRU_API_SECRET"],
            environment["SAILBRIDGE_CUSTOMER_ID"],
        ) == (defaults.api_key, defaults.api_secret, defaults.customer_id)
        # No admin token by default: the admin API and console stay off until one is set.
        assert environment["SAILBRIDGE_ADMIN_TOKEN"] == ""


def test_the_demo_command_in_the_docs_is_the_profile_here() -> None:
    docs = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    assert "docker compose --profile demo up" in docs
    assert Path(COMPOSE).name in docs
