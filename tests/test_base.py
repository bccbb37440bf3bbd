"""The TensorFlow-free floor: the message table, checks, atomic writes, fast mode, resize."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from xaikit.base import checks, env, io, resize
from xaikit.base.messages import MESSAGES, fields, message


@pytest.mark.parametrize("key", sorted(MESSAGES))
def test_every_message_formats_with_its_fields(key):
    text = message(key, **{name: f"<{name}>" for name in fields(key)})
    assert text and "{" not in text.replace("{'", "")


def test_unknown_message_key_is_a_programming_error():
    with pytest.raises(KeyError, match="no message 'nope'"):
        message("nope")


def test_base_imports_without_tensorflow():
    code = (
        "import builtins\n"
        "real = builtins.__import__\n"
        "def guard(name, *a, **k):\n"
        "    if name.split('.')[0] in ('tensorflow', 'keras'):\n"
        "        raise ImportError('TensorFlow must not be imported by xaikit.base')\n"
        "    return real(name, *a, **k)\n"
        "builtins.__import__ = guard\n"
        "import pkgutil, importlib, xaikit.base\n"
        "for m in pkgutil.iter_modules(xaikit.base.__path__):\n"
        "    importlib.import_module('xaikit.base.' + m.name)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize(("value", "expected"), [("1", True), ("ON", True), (" yes ", True),
                                                  ("", False), ("0", False), ("off", False)])
def test_fast_mode_reads_one_set_of_values(monkeypatch, value, expected):
    monkeypatch.setenv("XAIKIT_FAST", value)
    assert env.fast_mode() is expected
    assert env.fast_mode(not expected) is (not expected)


def test_fast_mode_refuses_a_typo(monkeypatch):
    monkeypatch.setenv("XAIKIT_FAST", "ture")
    with pytest.raises(ValueError, match="XAIKIT_FAST='ture' is not understood"):
        env.fast_mode()


def test_atomic_write_replaces_or_keeps_never_half(tmp_path):
    path = tmp_path / "sub" / "file.txt"
    io.atomic_write(path, "old")

    def broken(handle):
        handle.write(b"half")
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        io.atomic_write(path, broken)
    assert path.read_text() == "old"
    assert sorted(os.listdir(path.parent)) == ["file.txt"]
    io.atomic_write(path, b"new", mode=0o600)
    assert path.read_bytes() == b"new" and (path.stat().st_mode & 0o777) == 0o600


def test_resize_matches_tensorflow_half_pixel_bilinear():
    tf = pytest.importorskip("tensorflow")
    maps = np.random.default_rng(0).normal(size=(2, 5, 7)).astype(np.float32)
    ours = resize.resize_bilinear(maps, (12, 9))
    theirs = tf.image.resize(maps[..., None], (12, 9), method="bilinear").numpy()[..., 0]
    np.testing.assert_allclose(ours, theirs, atol=1e-5)
    images = np.random.default_rng(1).uniform(size=(1, 4, 4, 3))
    np.testing.assert_allclose(resize.resize_bilinear(images, (8, 8))[..., 1],
                               resize.resize_bilinear(images[..., 1], (8, 8)))


def test_maps_and_masks_checks_say_name_expected_got():
    with pytest.raises(ValueError, match=r"maps has shape \(4, 4\); expected maps \(N, H, W\); "
                                         r"use maps\[None\]"):
        checks.check_maps(np.zeros((4, 4)))
    with pytest.raises(ValueError, match="holds 2 map"):
        checks.check_maps(np.zeros((2, 4, 4)), n_images=3)
    with pytest.raises(ValueError, match=r"spatial size \(4, 4\); expected \(8, 8\)"):
        checks.check_maps(np.zeros((1, 4, 4)), size=(8, 8))
    with pytest.raises(ValueError, match="1 NaN"):
        checks.check_maps(np.array([[[np.nan, 0.0]]]))
    with pytest.raises(ValueError, match=r"mask\(s\) \[1\] are empty"):
        checks.check_masks(np.array([[[1, 0]], [[0, 0]]]))
    with pytest.raises(ValueError, match="booleans or 0/1"):
        checks.check_masks(np.array([[[0.5, 0.0]]]))
