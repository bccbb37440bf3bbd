"""The xaikit command line: help, discovery, one-line errors, info without TensorFlow."""

from __future__ import annotations

import subprocess
import sys

import pytest

from xaikit import cli


def xaikit(*args, env=None):
    return subprocess.run([sys.executable, "-m", "xaikit", *args], capture_output=True,
                          text=True, timeout=120, env=env)


def test_help_lists_the_commands_without_importing_tensorflow(capsys):
    code = ("import sys\nfrom xaikit.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "print('TF-IMPORTED' if 'tensorflow' in sys.modules else 'NO-TF')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    for command in ("reproduce", "info", "bench"):
        assert f"    {command}" in out
    assert out.strip().endswith("NO-TF")


def test_every_command_module_has_the_interface():
    commands = cli.discover_commands()
    broken = {name: error for name, error in commands.items() if isinstance(error, str)}
    assert not broken, f"command modules failed to import: {broken}"
    for name, module in commands.items():
        assert isinstance(module.HELP, str) and module.HELP, name
        assert callable(module.configure) and callable(module.run), name


def test_unknown_command_is_one_line_and_exit_2():
    result = xaikit("frobnicate")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("xaikit: error: unknown command 'frobnicate' (available: ")


def test_bad_option_is_one_line_and_exit_2():
    result = xaikit("info", "--no-such-option")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "xaikit info: error: unrecognized arguments: --no-such-option "
        "(see 'xaikit info --help')"]


def test_no_arguments_prints_help(capsys):
    assert cli.main([]) == 0
    assert "reproduce" in capsys.readouterr().out


def test_info_reports_versions_cache_and_weights(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XAIKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    assert cli.main(["info"]) == 0
    out = capsys.readouterr().out
    assert f"cache dir {tmp_path / 'cache'} ($XAIKIT_CACHE; not created yet)" in out
    for name in ("python 3.", "tensorflow 2.", "keras 3.", "numpy "):
        assert name in out
    assert "pretrained ImageNet weights: none cached in" in out
    models = tmp_path / "keras" / "models"
    models.mkdir(parents=True)
    (models / "vgg16_weights_tf_dim_ordering_tf_kernels.h5").write_bytes(b"")
    (models / "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5").write_bytes(b"")
    assert cli.main(["info"]) == 0
    out = capsys.readouterr().out
    assert "pretrained ImageNet weights: 2 file(s) cached in" in out
    assert "with classifier head: vgg16_weights_tf_dim_ordering_tf_kernels.h5" in out
    assert "backbone only (include_top=False): resnet50_weights" in out


def test_command_errors_are_one_line(monkeypatch, capsys):
    from xaikit.commands import info

    def broken(args):
        raise ValueError("something the user did wrong\nsecond line")

    monkeypatch.setattr(info, "run", broken)
    monkeypatch.delenv("XAIKIT_DEBUG", raising=False)
    assert cli.main(["info"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "xaikit info: error: something the user did wrong (XAIKIT_DEBUG=1 shows the traceback)"]


@pytest.mark.parametrize("args", [["--version"], ["reproduce", "--help"]])
def test_version_and_subcommand_help(args):
    result = xaikit(*args)
    assert result.returncode == 0
    assert result.stdout.strip()
