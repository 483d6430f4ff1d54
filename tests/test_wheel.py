"""possim as users get it: the built wheel in a fresh venv, used from an empty folder.

One sdist and one wheel built from it (``uv build``: the wheel comes from the
sdist, so the sdist is proven to build), one fresh venv with only that wheel
(and what it depends on), shared by the module. Before the wheel goes in, a
user's own project -- its own ``simulator/`` package, its own
``scenarios/*.yaml``, ``filterwarnings = error`` -- runs its suite with pytest
alone; with possim installed it must run exactly the same.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest
from process_helpers import LEAN_PYTEST

ROOT = Path(__file__).resolve().parent.parent
UV = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
TIMEOUT = 600

pytestmark = [
    pytest.mark.skipif(UV is None, reason="uv (a dev dependency) is not installed"),
    pytest.mark.xdist_group("wheel"),  # one wheel and one venv for the module, on one worker
]


@attrs.frozen
class Installed:
    """The venv with the wheel, and the user project's outcome before possim was in it."""

    venv: Path
    wheel: Path
    sdist: Path
    baseline: dict[str, str]
    baseline_summary: str

    def run(
        self, *args: str, cwd: Path, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        command = [str(self.venv / "bin" / args[0]), *args[1:]]
        return subprocess.run(
            command,
            cwd=cwd,
            env=env or clean_env(),
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )


def clean_env() -> dict[str, str]:
    """This environment minus what points into the repository or its venv."""
    dropped = ("PYTHONPATH", "VIRTUAL_ENV", "POSSIM_", "PYTEST_", "COV_")
    return {k: v for k, v in os.environ.items() if not k.startswith(dropped)}


def uv(*args: str, cwd: Path | None = None) -> None:
    assert UV is not None
    done = subprocess.run(
        [UV, *args], cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT, check=False
    )
    assert done.returncode == 0, f"uv {' '.join(args)}:\n{done.stdout}\n{done.stderr}"


# -- a user's project: its own `simulator` package and unrelated YAML ----------------------

USER_PROJECT = {
    "pytest.ini": "[pytest]\nfilterwarnings = error\n",
    "simulator/__init__.py": 'WHO = "the user\'s own simulator"\n',
    "scenarios/deploy.yaml": "name: production\nsteps:\n  - build\n  - ship\n",
    "scenarios/broken.yaml": "this: [is not: valid yaml\n",
    "tests/test_app.py": (
        "import warnings\n\nimport simulator\n\n\n"
        "def test_imports_its_own_simulator():\n"
        '    assert simulator.WHO == "the user\'s own simulator"\n\n\n'
        "def test_a_tripledes_warning_is_an_error_here():\n"
        '    warnings.warn("TripleDES has been moved", DeprecationWarning)\n'
    ),
}


def write_user_project(folder: Path) -> Path:
    for name, text in USER_PROJECT.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return folder


def outcomes(junit: Path) -> dict[str, str]:
    import xml.etree.ElementTree as ET

    found: dict[str, str] = {}
    for case in ET.parse(junit).iter("testcase"):
        tags = {child.tag for child in case}
        found[f"{case.get('classname')}::{case.get('name')}"] = next(
            (t for t in ("failure", "error", "skipped") if t in tags), "passed"
        )
    return found


def run_user_suite(installed: Installed | Path, folder: Path) -> tuple[dict[str, str], str]:
    """The user's ``python -m pytest`` (cwd first on sys.path): outcomes and summary line."""
    venv = installed.venv if isinstance(installed, Installed) else installed
    junit = folder / "junit.xml"
    done = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider",
         f"--junitxml={junit}"],
        cwd=folder, env=clean_env(), capture_output=True, text=True, timeout=TIMEOUT,
        check=False,
    )  # fmt: skip
    assert junit.is_file(), f"pytest exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr
    return outcomes(junit), summary.split(" in ")[0]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    work = tmp_path_factory.mktemp("wheel")
    uv("build", "--quiet", "--out-dir", str(work / "dist"), str(ROOT))
    (wheel,) = (work / "dist").glob("possim-*.whl")
    (sdist,) = (work / "dist").glob("possim-*.tar.gz")
    venv = work / "venv"
    uv("venv", "--quiet", "--python", sys.executable, str(venv))
    python = str(venv / "bin" / "python")
    uv("pip", "install", "--quiet", "--python", python, "pytest>=8")
    baseline, summary = run_user_suite(venv, write_user_project(work / "user-before"))
    uv("pip", "install", "--quiet", "--python", python, str(wheel))
    yield Installed(venv, wheel, sdist, baseline, summary)


@pytest.fixture
def empty(tmp_path: Path) -> Path:
    folder = tmp_path / "empty"
    folder.mkdir()
    return folder


# -- what the wheel holds -------------------------------------------------------------------


def test_the_wheel_installs_possims_packages_and_no_benchmarks(installed: Installed) -> None:
    names = zipfile.ZipFile(installed.wheel).namelist()
    tops = {name.split("/")[0] for name in names if not name.startswith("possim-")}
    assert tops == {"possim", "simulator", "drivers", "firmware_fixtures"}
    assert "possim/scenarios/card_purchase.yaml" in names
    assert "possim/docs/pytest.md" in names and "possim/docs/environment.md" in names
    assert any(name.endswith("licenses/LICENSE") for name in names)
    metadata = (
        zipfile.ZipFile(installed.wheel)
        .read(next(n for n in names if n.endswith(".dist-info/METADATA")))
        .decode()
    )
    assert "Classifier: Framework :: Pytest" in metadata
    assert "License-Expression: MIT" in metadata


def test_the_sdist_holds_the_tests_and_what_they_read(installed: Installed) -> None:
    with tarfile.open(installed.sdist) as sdist:
        names = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
    for needed in (
        "setup.py", "LICENSE", "tests/conftest.py", "tests/golden/sale_merchant_58mm.png",
        "scenarios/card_purchase.yaml", "docs/scenarios.md", ".ci/hide-system-packages",
    ):  # fmt: skip
        assert needed in names, needed
    tests = sorted(p.name for p in (ROOT / "tests").glob("test_*.py"))
    assert [n for n in tests if f"tests/{n}" not in names] == []


def test_the_sdists_own_tests_run(installed: Installed, tmp_path: Path) -> None:
    with tarfile.open(installed.sdist) as sdist:
        sdist.extractall(tmp_path, filter="data")
    (source,) = tmp_path.glob("possim-*")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", *LEAN_PYTEST, "tests/test_scenario_check.py",
         "tests/test_yaml_lines.py"],
        cwd=source, env=clean_env(), capture_output=True, text=True, timeout=TIMEOUT,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:]


# -- commands from an empty folder ----------------------------------------------------------


def test_demo_prints_the_receipt_and_the_announcement(installed: Installed, empty: Path) -> None:
    done = installed.run("possim", "demo", cwd=empty)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "POS签购单" in done.stdout and "621483******3655" in done.stdout
    assert "收款成功，十二点三四元" in done.stdout


def test_init_then_run_then_pytest(installed: Installed, empty: Path) -> None:
    created = installed.run("possim", "init", "shop", cwd=empty)
    assert created.returncode == 0, created.stderr
    shop = empty / "shop"
    assert "from possim.locust import" in (shop / "locustfile.py").read_text(encoding="utf-8")
    ran = installed.run("possim", "run", "scenarios/", cwd=shop)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "3 passed, 0 failed, 0 invalid" in ran.stdout
    checked = installed.run("possim", "check", "scenarios/", cwd=shop)
    assert checked.returncode == 0 and "3 scenarios OK" in checked.stdout
    tested = installed.run("pytest", "-p", "no:cacheprovider", cwd=shop)
    assert tested.returncode == 0, tested.stdout[-3000:]
    assert "5 passed" in tested.stdout  # the three scenarios and tests/test_shop.py's two
    again = installed.run("possim", "init", "shop", cwd=empty)
    assert again.returncode == 2 and len(again.stderr.strip().splitlines()) == 1


def test_schema_is_a_valid_json_schema(installed: Installed, empty: Path) -> None:
    from jsonschema import Draft202012Validator

    done = installed.run("possim", "schema", cwd=empty)
    assert done.returncode == 0, done.stderr
    Draft202012Validator.check_schema(json.loads(done.stdout))


def test_docs_and_the_scenario_library_ship(installed: Installed, empty: Path) -> None:
    listed = installed.run("possim", "docs", cwd=empty)
    assert listed.returncode == 0 and "pytest" in listed.stdout
    page = installed.run("possim", "docs", "environment", cwd=empty)
    assert "POSSIM_REQUIRE_SYSTEM" in page.stdout
    library = installed.run("possim", "scenarios", cwd=empty)
    assert library.returncode == 0 and len(library.stdout.splitlines()) >= 50
    copied = installed.run("possim", "scenarios", "--filter", "qr_*", "--copy", "qr", cwd=empty)
    assert copied.returncode == 0, copied.stderr
    ran = installed.run("possim", "run", "qr/qr_wechat.yaml", cwd=empty)
    assert ran.returncode == 0, ran.stdout + ran.stderr


def test_errors_are_one_line_and_exit_2(installed: Installed, empty: Path) -> None:
    """The acceptance's example (every other error: tests/test_cli_conventions.py)."""
    done = installed.run("possim", "tui", "--card", "nosuchcard", cwd=empty)
    assert done.returncode == 2, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "Traceback" not in done.stderr
    version = installed.run("possim", "--version", cwd=empty)
    assert version.stdout.strip() == "possim 0.1.0"


@pytest.mark.parametrize(
    "args",
    [
        ("purchase", "--count", "10"),  # one shop per core, as users run it
        ("render", "--count", "5"),
        ("library", "--count", "2"),
        ("startup", "--count", "1"),
        ("tui", "--count", "3"),
        ("gateway", "--terminals", "5", "--count", "25"),
    ],
    ids=lambda args: args[0],
)
def test_every_benchmark_runs_from_the_wheel(
    installed: Installed, empty: Path, args: tuple[str, ...]
) -> None:
    done = installed.run("possim", "bench", *args, cwd=empty)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1].startswith(f"{args[0]}: ")


@pytest.mark.system_package("pcscd")
@pytest.mark.system_package("vpcd-config")
@pytest.mark.system_package("pyscard")
def test_the_apdu_benchmark_runs_with_the_pcsc_extra(installed: Installed, tmp_path: Path) -> None:
    from simulator.pcscd import missing_requirements

    without = installed.run("possim", "bench", "apdu", "--count", "20", cwd=tmp_path)
    assert without.returncode == 2  # pyscard is the `pcsc` extra: says so, in one line
    assert "pip install 'possim[pcsc]'" in without.stderr
    assert len(without.stderr.strip().splitlines()) == 1
    problems = missing_requirements()
    if problems:
        pytest.skip("a private pcscd cannot run here: " + "; ".join(problems))
    venv = _venv(tmp_path / "venv", f"possim[pcsc] @ {installed.wheel.as_uri()}")
    done = subprocess.run(
        [str(venv / "bin" / "possim"), "bench", "apdu", "--count", "20"],
        cwd=tmp_path, env=clean_env(), capture_output=True, text=True, timeout=TIMEOUT,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1].startswith("apdu: ")


def _venv(folder: Path, *requirements: str) -> Path:
    uv("venv", "--quiet", "--python", sys.executable, str(folder))
    for requirement in requirements:  # one at a time: a later one may overwrite an earlier
        uv("pip", "install", "--quiet", "--python", str(folder / "bin" / "python"), requirement)
    return folder


# -- possim beside other people's packages --------------------------------------------------


def test_a_user_project_runs_exactly_as_without_possim(
    installed: Installed, tmp_path: Path
) -> None:
    after, summary = run_user_suite(installed, write_user_project(tmp_path / "user-after"))
    assert installed.baseline == {
        "tests.test_app::test_imports_its_own_simulator": "passed",
        "tests.test_app::test_a_tripledes_warning_is_an_error_here": "failure",
    }
    assert after == installed.baseline
    assert summary == installed.baseline_summary


def test_possim_in_a_folder_with_a_simulator_package_says_so(
    installed: Installed, tmp_path: Path
) -> None:
    project = write_user_project(tmp_path / "user")
    done = installed.run("python", "-m", "possim", "--version", cwd=project)
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert f"finds {project / 'simulator'}, not possim's" in line
    # An opted-in project whose simulator/ is first on sys.path: pytest says so too.
    (project / "pytest.ini").write_text("[pytest]\npossim_scenario_dirs = qa\n", "utf-8")
    tested = installed.run("python", "-m", "pytest", "-p", "no:cacheprovider", cwd=project)
    assert tested.returncode == pytest.ExitCode.USAGE_ERROR
    assert f"finds {project / 'simulator'}, not possim's" in tested.stderr
    assert "Traceback" not in tested.stderr
    # The device schemes, reached through possim's own (unshadowed) drivers.
    probe = (
        "from drivers.printer import Printer\nfrom drivers.registry import open_device\n"
        "open_device(Printer, 'sim://')\n"
    )
    opened = installed.run("python", "-I", "-c", probe, cwd=project)
    assert "cannot load the" not in opened.stderr  # -I: the user's folder is not on sys.path
    shadowed = installed.run("python", "-c", probe, cwd=project)
    assert f"finds {project / 'simulator'}, not possim's" in shadowed.stderr
    assert "DeviceURLError" in shadowed.stderr


def test_another_distribution_installed_over_drivers_is_named(
    installed: Installed, tmp_path: Path
) -> None:
    venv = _venv(tmp_path / "venv", str(installed.wheel), str(_fake_drivers_wheel(tmp_path)))
    done = subprocess.run(
        [str(venv / "bin" / "possim"), "--version"],
        cwd=tmp_path, env=clean_env(), capture_output=True, text=True, timeout=TIMEOUT,
        check=False,
    )  # fmt: skip
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert "the distribution drivers 9.9.9 installed its own `drivers` package" in line


def _fake_drivers_wheel(folder: Path) -> Path:
    """A distribution named ``drivers`` (PyPI has one) whose ``drivers/__init__.py`` is its own."""
    path = folder / "drivers-9.9.9-py3-none-any.whl"
    info = "drivers-9.9.9.dist-info"
    files = {
        "drivers/__init__.py": "VERSION = '9.9.9'\n",
        f"{info}/METADATA": "Metadata-Version: 2.1\nName: drivers\nVersion: 9.9.9\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = "".join(f"{name},,\n" for name in files) + f"{info}/RECORD,,\n"
    with zipfile.ZipFile(path, "w") as wheel:
        for name, text in files.items():
            wheel.writestr(name, text)
        wheel.writestr(f"{info}/RECORD", record)
    return path
