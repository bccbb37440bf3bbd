#!/usr/bin/env bash
# Install bubblewrap, the confinement `xaikit grade` runs students' code in (Debian/Ubuntu's
# `bubblewrap` package, or Fedora's), then show what the grader finds on this machine.
# Idempotent: does nothing but the check when bwrap is already on PATH.  Needs root (or sudo) and
# the distribution's package mirror.  Without bubblewrap the grader falls back to Landlock +
# seccomp (Linux 5.13+), and refuses to grade when neither is available (see docs/instructors.md).
set -euo pipefail
cd "$(dirname "$0")/.."

if command -v bwrap >/dev/null 2>&1; then
    echo "install_sandbox: $(bwrap --version) already installed"
else
    if [ "$(id -u)" -eq 0 ]; then
        SUDO=()
    elif command -v sudo >/dev/null 2>&1; then
        SUDO=(sudo)
    else
        echo "install_sandbox: error: installing bubblewrap needs root; run this as root" >&2
        exit 1
    fi
    if command -v apt-get >/dev/null 2>&1; then
        export DEBIAN_FRONTEND=noninteractive
        "${SUDO[@]}" apt-get update -qq
        "${SUDO[@]}" apt-get install -y -qq --no-install-recommends bubblewrap >/dev/null
    elif command -v dnf >/dev/null 2>&1; then
        "${SUDO[@]}" dnf install -y -q bubblewrap
    else
        echo "install_sandbox: error: no apt-get or dnf; install bubblewrap with your package" \
             "manager" >&2
        exit 1
    fi
    echo "install_sandbox: installed $(bwrap --version)"
fi
if [ -x .venv/bin/xaikit ]; then
    .venv/bin/xaikit grade --check-sandbox || {
        echo "install_sandbox: warning: bubblewrap is installed but the grader finds no complete" \
             "confinement (user namespaces disabled?); see docs/instructors.md" >&2
        exit 1
    }
fi
