#!/usr/bin/env bash
# Install Autobahn|Testsuite 0.8.2 for Python 2.7 into a private directory.
# Usage: install.sh PYTHON27 TARGET_DIR
set -euo pipefail
python27=$1
target=$2
here=$(cd "$(dirname "$0")" && pwd)
tmp="$target.tmp"
rm -rf "$tmp"
"$python27" -m pip install -q --disable-pip-version-check --no-warn-conflicts \
    --target "$tmp" -r "$here/requirements-py27.txt"
# zope.interface installs into a namespace package that --target leaves without __init__.py.
echo "__path__ = __import__('pkgutil').extend_path(__path__, __name__)" > "$tmp/zope/__init__.py"
rm -rf "$target"
mv "$tmp" "$target"
