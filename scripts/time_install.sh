#!/usr/bin/env bash
# Time the README's two commands on fresh clones of this repository, with pip's cache off (as on a new
# machine): command 1 until the app answers, command 2's install (the test run itself is timed by pytest).
#   bash scripts/time_install.sh [WORK_DIR]
set -u
repo="$(cd "$(dirname "$0")/.." && pwd)"
work="${1:-$(mktemp -d)}"
export PIP_NO_CACHE_DIR=1
port=7999

git clone -q "$repo" "$work/one" && cd "$work/one" || exit 1
start=$(date +%s)
python3 -m venv .venv && .venv/bin/pip install -e ".[app]" > "$work/one-pip.log" 2>&1 || { echo "install failed"; exit 1; }
installed=$(date +%s)
.venv/bin/python demo/app.py --port "$port" > "$work/one-app.log" 2>&1 &
app=$!
until curl -sf "http://127.0.0.1:$port/config" > /dev/null; do
  kill -0 "$app" 2>/dev/null || { echo "the app exited; see $work/one-app.log"; exit 1; }
  sleep 1
done
up=$(date +%s)
kill "$app"
echo "command 1: install $((installed - start)) s; the app answers $((up - installed)) s later"
echo "OpenCV downloads: $(grep -c 'Downloading opencv' "$work/one-pip.log")"
.venv/bin/pip check

git clone -q "$repo" "$work/two" && cd "$work/two" || exit 1
start=$(date +%s)
python3 -m venv .venv && .venv/bin/pip install -e ".[dev]" > "$work/two-pip.log" 2>&1 || { echo "install failed"; exit 1; }
echo "command 2: install $(( $(date +%s) - start )) s (then: .venv/bin/python -m pytest)"
.venv/bin/pip check
