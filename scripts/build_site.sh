#!/usr/bin/env bash
# Build the xaikit course site (what `make site` runs).
#
#   bash scripts/build_site.sh            # stage build/site-docs from xaikit-out/, build site/
#   bash scripts/build_site.sh serve      # the same, then serve site/ on http://127.0.0.1:8000
#
# The lessons on the site are the notebooks that `xaikit reproduce` executed into xaikit-out/
# (XAIKIT_OUT_DIR to use another folder); they are not executed again.  When that folder is
# missing, the build stops and asks for `make reproduce` (running every lesson takes minutes, so
# it is never started behind your back).  Environment: PYTHON (default .venv/bin/python),
# XAIKIT_SITE_PREVIEWS=0 to skip the dataset preview grids, SELF_STUDY=1 for the self-study
# build (solutions and model answers on the lesson pages), PORT for `serve`.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-.venv/bin/python}"
OUT="${XAIKIT_OUT_DIR:-xaikit-out}"
DOCS="build/site-docs"
export NO_MKDOCS_2_WARNING=1 TF_CPP_MIN_LOG_LEVEL=2 TF_ENABLE_ONEDNN_OPTS=0

if [ ! -x "$PYTHON" ]; then
    echo "build_site: error: $PYTHON not found; run \`make venv\` first" >&2
    exit 1
fi
if [ ! -d "$OUT" ]; then
    echo "build_site: error: $OUT/ does not exist: the site shows the lessons as \`xaikit reproduce\`" \
         "executed them. Run \`make reproduce\` first (XAIKIT_FAST=1 make reproduce for a quick pass)." >&2
    exit 1
fi

previews=()
if [ "${XAIKIT_SITE_PREVIEWS:-1}" = "0" ]; then previews=(--no-previews); fi
# SELF_STUDY=1: the self-study build (reference solutions and model answers, collapsible).
if [ "${SELF_STUDY:-0}" = "1" ]; then previews+=(--self-study); fi
"$PYTHON" scripts/site_prepare.py --out "$OUT" --docs "$DOCS" "${previews[@]}"
XAIKIT_SITE_DOCS="$PWD/$DOCS" XAIKIT_SITE_DIR="$PWD/site" \
    "$PYTHON" -m mkdocs build --strict --clean --config-file mkdocs.yml
echo "build_site: site/ is ready: open site/index.html through a server (\`make serve\`)"

if [ "${1:-}" = "serve" ]; then
    PORT="${PORT:-8000}"
    echo "build_site: serving site/ on http://127.0.0.1:$PORT (Ctrl-C stops)"
    exec "$PYTHON" -m http.server "$PORT" --bind 127.0.0.1 --directory site
fi
