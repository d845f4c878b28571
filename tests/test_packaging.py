"""A plain, non-editable install is a working product: migrations and the zh-CN catalogue ship
inside the wheel, development tools do not."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path

import pytest
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[1]
CATALOGUE = ROOT / "webapp" / "translations" / "zh" / "LC_MESSAGES"


def _run(*command: str | Path, cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run([str(part) for part in command], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    return done.stdout


def test_every_package_of_the_product_is_listed_for_the_wheel() -> None:
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "packages"])
    found = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for top in ("webapp", "emails")
        for init in (ROOT / top).rglob("__init__.py")
    }
    assert found <= listed, f"add to [tool.setuptools] packages: {sorted(found - listed)}"


def test_the_committed_catalogue_is_compiled_from_the_po_file() -> None:
    def key(value: object) -> object:  # a plural message's id and strings are sequences
        return tuple(value) if isinstance(value, list | tuple) else value

    with open(CATALOGUE / "messages.po", "rb") as handle:
        source = {key(m.id): key(m.string) for m in read_po(handle) if m.id and not m.fuzzy}
    with open(CATALOGUE / "messages.mo", "rb") as handle:
        compiled = {key(m.id): key(m.string) for m in read_mo(handle) if m.id}
    assert compiled == source, "run `make messages` to recompile messages.mo"


@pytest.mark.servers  # pip and a virtualenv in subprocesses
def test_a_plain_install_migrates_and_serves_chinese(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    _run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "--wheel-dir", dist, ROOT, cwd=tmp_path)
    [wheel] = dist.glob("yuebao-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "webapp/migrations/env.py" in names and "webapp/migrations/script.py.mako" in names
    assert "webapp/translations/zh/LC_MESSAGES/messages.mo" in names
    assert not [n for n in names if n.startswith("tests/") or "simulator" in n
                or "/bench/" in n or "devtools" in n]

    # A fresh virtualenv with the wheel, borrowing only the dependencies of this one (no
    # network here): its own site-packages comes first, so `webapp` is the installed copy.
    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", venv, cwd=tmp_path)
    python = venv / "bin" / "python"
    site = Path(_run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])",
                     cwd=tmp_path).strip())
    (site / "borrowed-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run(python, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", wheel,
         cwd=tmp_path)

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("YUEBAO", "DATABASE"))}
    env |= {"DATABASE_URL": f"sqlite:///{run_dir / 'db.sqlite3'}", "YUEBAO_VAR_DIR": "var",
            "PYTHONPATH": ""}
    _run(venv / "bin" / "yuebao", "db", "upgrade", cwd=run_dir, env=env)
    current = _run(venv / "bin" / "yuebao", "db", "current", cwd=run_dir, env=env)
    assert "(head)" in current
    page = _run(python, "-c", (
        "import webapp, sys; from webapp import create_app\n"
        "assert webapp.__file__.startswith(sys.prefix), webapp.__file__\n"
        "print(create_app().test_client().get('/').get_data(as_text=True))"
    ), cwd=run_dir, env=env)
    assert "<html lang=\"zh-CN\"" in page and "订阅" in page
