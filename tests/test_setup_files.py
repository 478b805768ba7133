"""The setup files agree: environment.yml vs pyproject.toml, README's first commands, CI entry."""

from __future__ import annotations

import re
import tomllib

from tests.helpers import REPO_ROOT

_REQ = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*(.*)$")


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _split(req: str) -> tuple[str, str | None]:
    """(normalised name, lower bound or None) of `name>=1.2,<3` (conda `name>=1.2` too)."""
    m = _REQ.match(req.split(";")[0])
    assert m, f"cannot parse requirement {req!r}"
    bound = re.search(r">=\s*([0-9][^,\s]*)", m.group(2))
    return _normalise(m.group(1)), bound.group(1) if bound else None


def pyproject_requirements() -> dict[str, str | None]:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(project.get("dependencies", []))
    for extra in project.get("optional-dependencies", {}).values():
        reqs += extra
    return dict(_split(r) for r in reqs)


def environment_requirements() -> dict[str, str | None]:
    """Top-level `dependencies:` items of environment.yml, without python, pip and `pip:`."""
    out: dict[str, str | None] = {}
    in_deps = False
    item_indent = None
    for raw in (REPO_ROOT / "environment.yml").read_text().splitlines():
        line = raw.split(" #", 1)[0].rstrip()
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        indent = len(line) - len(line.lstrip())
        if indent == 0:
            in_deps = line.strip() == "dependencies:"
            continue
        if not in_deps:
            continue
        stripped = line.strip()
        if not stripped.startswith("- "):
            continue
        if item_indent is None:
            item_indent = indent
        if indent != item_indent:
            continue  # the nested pip: list
        item = stripped[2:].strip().strip("'\"")
        if item.endswith(":"):
            continue  # `- pip:`
        name, bound = _split(item.replace("==", ">=", 0))
        if name in ("python", "pip"):
            continue
        out[name] = bound
    return out


def test_environment_matches_pyproject() -> None:
    env, py = environment_requirements(), pyproject_requirements()
    assert env, "no dependencies found in environment.yml"
    assert set(env) == set(py), (
        f"only in environment.yml: {sorted(set(env) - set(py))}; "
        f"only in pyproject.toml: {sorted(set(py) - set(env))}"
    )
    mismatched = {n: (env[n], py[n]) for n in env if env[n] != py[n]}
    assert not mismatched, f"lower bounds differ (environment.yml, pyproject.toml): {mismatched}"


def test_parsers_on_known_lines() -> None:
    assert _split("cbor2>=5.6") == ("cbor2", "5.6")
    assert _split("Foo_Bar[extra] >= 1.0, <2 ; python_version>'3'") == ("foo-bar", "1.0")
    assert _split("plain") == ("plain", None)


def test_readme_starts_with_make_demo_then_make_test() -> None:
    readme = REPO_ROOT / "README.md"
    assert readme.is_file(), "README.md is missing"
    text = readme.read_text()
    commands = []
    for block in re.findall(r"```[^\n]*\n(.*?)```", text, re.S):
        for line in block.splitlines():
            line = line.split(" #", 1)[0].strip()
            if line and not line.startswith("#"):
                commands.append(line.removeprefix("$ ").strip())
    inline = re.findall(r"`(make [a-z-]+)`", text)
    assert commands or inline, "README shows no commands"
    first = commands[:2] if commands else inline[:2]
    assert first == ["make demo", "make test"], f"README's first commands are {first}"
    assert text.find("make demo") < text.find("make test")


def test_ci_runs_make_test() -> None:
    run = REPO_ROOT / ".ci" / "run"
    assert run.is_file()
    lines = [ln.strip() for ln in run.read_text().splitlines()
             if ln.strip() and not ln.lstrip().startswith("#")]
    assert "make test" in lines
    assert run.stat().st_mode & 0o111, ".ci/run is not executable"


def test_makefile_targets() -> None:
    text = (REPO_ROOT / "Makefile").read_text()
    assert re.search(r"^demo:", text, re.M) and re.search(r"^test:", text, re.M)
    assert "pytest" in text
