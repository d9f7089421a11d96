"""The conda environment the rules run in (envs/bertq.yaml) lists every runtime dependency of
pyproject.toml, with the same version bounds, and every rule with a script names it."""

import re
from pathlib import Path

import tomllib
import yaml
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
CONDA_NAMES = {"pytorch": "torch", "snakemake-minimal": "snakemake", "python": None, "pip": None}
"""Conda package name -> the PyPI name it provides (None: not a project dependency)."""


def _requirements(lines) -> dict[str, str]:
    out = {}
    for line in lines:
        if line.startswith("-e "):
            continue
        req = Requirement(line)
        out[req.name.lower()] = str(req.specifier)
    return out


def _conda_requirements() -> dict[str, str]:
    env = yaml.safe_load((ROOT / "envs" / "bertq.yaml").read_text())
    conda, pip = [], []
    for dep in env["dependencies"]:
        (pip.extend(dep["pip"]) if isinstance(dep, dict) else conda.append(dep))
    out = {}
    for dep in conda:
        name, spec = re.match(r"^([A-Za-z0-9_.\-]+)(.*)$", dep.replace(" ", "")).groups()
        mapped = CONDA_NAMES.get(name, name)
        if mapped is not None:
            # conda's "=3.11" pins a prefix; bounds given as ">=a,<=b" read the same as pip's
            out[mapped.lower()] = str(Requirement(f"x{spec}").specifier) if spec else ""
    return {**out, **_requirements(pip)}


def test_conda_environment_lists_every_runtime_dependency_with_its_bounds():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = _requirements(project["dependencies"])
    conda = _conda_requirements()
    assert sorted(set(runtime) - set(conda)) == [], "missing from envs/bertq.yaml"
    assert sorted(set(conda) - set(runtime)) == [], "in envs/bertq.yaml but not a dependency of pyproject.toml"
    assert {k: conda[k] for k in runtime} == runtime


def _rules(path: Path) -> dict[str, str]:
    """Each rule of a rule file (``rule x:`` or ``use rule y as x ...:``) -> its text."""
    chunks = re.split(r"^(?=(?:rule|use rule) )", path.read_text(), flags=re.M)[1:]
    return {re.match(r"(?:rule (\w+)|use rule \w+ as (\w+))", c).group(1, 2)[c.startswith("use")]: c for c in chunks}


def test_every_rule_with_a_script_runs_in_the_environment():
    """Snakemake reads a rule's ``conda:`` path relative to its rule file, as it does ``script:``."""
    rule_files = sorted((ROOT / "workflow" / "rules").glob("*.smk"))
    envs, scripted = {}, []
    for path in rule_files:
        for name, text in _rules(path).items():
            if text.startswith("rule ") and "script:" in text:
                scripted.append(name)
                conda = re.search(r"^    conda:\s*\n?\s*\"([^\"]+)\"", text, flags=re.M)
                envs[name] = (path.parent / conda.group(1)).resolve() if conda else None
    assert len(scripted) >= 9, scripted  # tokenize ... reports: the test must see the rules it checks
    assert {n: e for n, e in envs.items() if e != ROOT / "envs" / "bertq.yaml"} == {}
