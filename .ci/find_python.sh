#!/usr/bin/env bash
# Print the path of a Python >= 3.12 that actually runs; exit 1 with a message if none.
ok() { "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' >/dev/null 2>&1; }
for cand in "${BAYESMIX_PYTHON:-}" python3.13 python3.12 python3; do
  [ -n "$cand" ] || continue
  if command -v "$cand" >/dev/null 2>&1 && ok "$cand"; then command -v "$cand"; exit 0; fi
done
if command -v pyenv >/dev/null 2>&1; then
  root=$(pyenv root)
  for p in $(ls -d "$root"/versions/3.1[2-9]*/bin/python "$root"/versions/3.[2-9][0-9]*/bin/python 2>/dev/null | sort -rV); do
    if ok "$p"; then echo "$p"; exit 0; fi
  done
fi
for p in /usr/local/bin/python3.1[2-9] /usr/bin/python3.1[2-9]; do
  if [ -x "$p" ] && ok "$p"; then echo "$p"; exit 0; fi
done
echo "bayesmix needs Python >= 3.12 and none was found (tried python3.13, python3.12, python3, pyenv versions). Install one or set BAYESMIX_PYTHON=/path/to/python3.12." >&2
exit 1
