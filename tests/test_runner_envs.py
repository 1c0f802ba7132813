"""Run environments on the host: which file builds the environment, isolation, uv or pip."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from git_data.errors import FatalError
from git_data.runner.host import envs


def _plan(checkout: Path) -> envs.Plan:
    return envs.plan(checkout, None, None, [], lambda _line: None)


def test_pipfile_lock_pins_and_pipfile_packages(tmp_path: Path) -> None:
    (tmp_path / "Pipfile.lock").write_text('{"default": {"six": {"version": "==1.16.0"}}}')
    (tmp_path / "Pipfile").write_text('[packages]\nsix = "*"\nattrs = ">=1"\n')
    plan = _plan(tmp_path)
    assert (plan.source, plan.text) == ("Pipfile.lock", b"six==1.16.0\n")
    (tmp_path / "Pipfile.lock").unlink()
    plan = _plan(tmp_path)
    assert (plan.source, plan.text) == ("Pipfile", b"attrs>=1\nsix\n")


def test_environment_yml_without_conda_is_one_line(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(envs, "conda_command", lambda: None)
    (tmp_path / "environment.yml").write_text("dependencies: [six]\n")
    with pytest.raises(FatalError, match="environment.yml needs conda on this host"):
        _plan(tmp_path)
    (tmp_path / "requirements.txt").write_text("\n")
    assert _plan(tmp_path).source == "requirements.txt"


@pytest.mark.parametrize("with_uv", [True, False])
def test_venv_is_isolated_and_built_with_uv_when_present(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, with_uv: bool) -> None:
    if with_uv and shutil.which("uv") is None:
        pytest.skip("uv is not on PATH")
    if not with_uv:
        monkeypatch.setenv("PATH", "/usr/bin:/bin")  # uv lives in the venv's bin, not here
        if shutil.which("uv"):
            pytest.skip("uv is installed system-wide; cannot hide it")
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "requirements.txt").write_text("--no-index\npip\n")
    plan = _plan(tmp_path / "c")
    with open(tmp_path / "log", "wb") as log:
        info = envs.ensure(plan, tmp_path / "envs", tmp_path / "c", log, lambda _line: None)
    assert ("uv pip install" in (tmp_path / "log").read_text()) == with_uv
    python = Path(info["path"]) / "bin" / "python"
    # pytest is in the host's site-packages, never in an isolated environment
    assert subprocess.run([python, "-c", "import pytest"], capture_output=True).returncode != 0


def test_failed_build_names_the_tools_reason(tmp_path: Path) -> None:
    """The error of a build that fails carries the installer's last line, for the record."""
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "requirements.txt").write_text("--no-index\nnonexistent-package-xyz\n")
    plan = _plan(tmp_path / "c")
    with open(tmp_path / "log", "wb") as log, pytest.raises(FatalError) as caught:
        envs.ensure(plan, tmp_path / "envs", tmp_path / "c", log, lambda _line: None)
    message = str(caught.value)
    assert message.startswith("environment: ") and "nonexistent-package-xyz" in message
    assert "\n" not in message and not any((tmp_path / "envs").glob("*/.ready*"))
