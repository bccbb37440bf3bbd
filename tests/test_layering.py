"""The import-linter contracts of pyproject.toml hold (layers point downwards only)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_are_kept():
    executable = Path(sys.executable).parent / "lint-imports"
    command = str(executable) if executable.exists() else shutil.which("lint-imports")
    assert command, "lint-imports (import-linter, in the test extra) is not installed"
    result = subprocess.run([command, "--no-cache"], cwd=ROOT, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
