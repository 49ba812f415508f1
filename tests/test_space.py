"""The repository works as a Hugging Face Space: README front matter and requirements.txt agree with the
package's pins."""

from __future__ import annotations

from pathlib import Path

import tomlkit
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]


def _front_matter() -> dict:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert text.startswith("---\n"), "README.md must open with the Space's YAML front matter"
    return yaml.safe_load(text.split("---\n")[1])


def _pyproject() -> dict:
    return tomlkit.parse((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def _by_name(lines) -> dict[str, Requirement]:
    requirements = [Requirement(str(line)) for line in lines]
    return {requirement.name.lower(): requirement for requirement in requirements}


def test_front_matter_matches_the_package_pins():
    front, project = _front_matter(), _pyproject()
    assert front["sdk"] == "gradio"
    assert (ROOT / front["app_file"]).is_file()
    gradio = _by_name(project["dependencies"])["gradio"]
    assert Version(front["sdk_version"]) in gradio.specifier, (front["sdk_version"], str(gradio.specifier))
    assert Version(str(front["python_version"])) in SpecifierSet(str(project["requires-python"]))
    assert front["license"] == "apache-2.0" and front["suggested_hardware"]


def test_requirements_txt_installs_the_same_pinned_set_as_the_package():
    project = _pyproject()
    lines = [line.strip() for line in (ROOT / "requirements.txt").read_text().splitlines()]
    space = _by_name(line for line in lines if line and not line.startswith("#"))
    extras = project["optional-dependencies"]
    app = [Requirement(str(line)) for line in extras["app"]]
    # the app extra names other extras of the package itself (makeup[video]): what they pin counts too
    own = [line for requirement in app if requirement.name == project["name"] for extra in requirement.extras
           for line in extras[extra]]
    package = _by_name([*project["dependencies"], *own, *(str(r) for r in app if r.name != project["name"])])
    assert {name: str(req.specifier) for name, req in space.items()} == \
        {name: str(req.specifier) for name, req in package.items()}


def test_weights_fit_a_space_repository():
    # the Hub takes files up to 50 GB through Xet/LFS, but a Space clone should stay small: under 50 MB each
    for path in (ROOT / "weights").glob("*.safetensors"):
        assert path.stat().st_size < 50 * 2**20, path
