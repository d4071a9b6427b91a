#!/usr/bin/env bash
# The venv holding the pinned ansible-core the inventory tests compare against
# (`ansible --list-hosts`, `ansible-inventory --list`). Prints its path.
exec "$(dirname "$0")/tool-venv.sh" ansible-venv tests/ansible/requirements.txt
