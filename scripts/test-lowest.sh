#!/usr/bin/env bash
# CI's lowest-versions job: install the LOWEST version each of pyproject.toml's ranges allows
# (uv's --resolution lowest-direct: patchpilot's direct dependencies at their lower bounds, what
# they need resolved normally) into .venv-lowest, and run the unit tests there, so every lower
# bound pyproject.toml declares is one the tests pass with. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install.sh   # brings .venv/bin/uv (the lock pins it)
uv=.venv/bin/uv
venv=.venv-lowest
[ -x "$venv/bin/python" ] || "$uv" venv --quiet --python /usr/bin/python3 "$venv"
"$uv" pip install --quiet --python "$venv/bin/python" --resolution lowest-direct \
  --reinstall-package patchpilot -e '.[dev,postgres]'
echo "test-lowest.sh: the direct dependencies at their lower bounds:"
"$uv" pip freeze --python "$venv/bin/python" --exclude-editable \
  | grep -iE "^($(python3 - <<'PY'
import re, tomllib
project = tomllib.load(open("pyproject.toml", "rb"))["project"]
deps = project["dependencies"] + project["optional-dependencies"]["postgres"]
print("|".join(re.split(r"[\[<>=!~ ;]", d, maxsplit=1)[0] for d in deps))
PY
))==" | tr '\n' ' '
echo
exec "$venv/bin/pytest" -p no:cacheprovider -q tests/unit "$@"
