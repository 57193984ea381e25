#!/usr/bin/env bash
# `make newcomer`: what a new user does, checked. Clones the repository's committed HEAD into
# a temporary folder and runs the README's two commands there, `make run` and `make test`,
# with a fresh HOME (no ~/.cache/kinestream: the Kafka jars and npm packages are installed
# again, a new virtual environment is made) and prints a summary with each command's time.
#
# Only the download caches of pip, Maven and npm stay reachable (PIP_CACHE_DIR,
# -Dmaven.repo.local, npm_config_cache, from the caller's HOME), so the packages come from
# local copies instead of the network: the steps are all taken, only faster. The Python is
# the caller's python3.11, resolved first (a pyenv shim would not find its versions under the
# fresh HOME). Logs: .artifacts/newcomer/; NEWCOMER_KEEP=1 keeps the clone.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo="$PWD"

python="$(python3.11 -c 'import sys; print(sys.executable)' 2>/dev/null ||
    python3 -c 'import sys; print(sys.executable)')"
pip_cache="${PIP_CACHE_DIR:-$HOME/.cache/pip}"
maven_repo="$HOME/.m2/repository"
npm_cache="${npm_config_cache:-$HOME/.npm}"
logs="$repo/.artifacts/newcomer"
rm -rf "$logs"
mkdir -p "$logs"
work="$(mktemp -d "${TMPDIR:-/tmp}/kinestream-newcomer.XXXXXX")"
if [[ "${NEWCOMER_KEEP:-0}" != 1 ]]; then
    trap 'rm -rf "$work"' EXIT
fi

git clone --quiet "$repo" "$work/kinestream" || { echo "newcomer: git clone failed" >&2; exit 1; }
commit="$(git -C "$work/kinestream" log -1 --format='%h %s' | cut -c1-90)"
mkdir -p "$work/home"

# Runs `make TARGET` in the clone as the newcomer; records its status and time.
results=()
status=0
newcomer_make() {
    local target="$1" began=$SECONDS rc=0
    echo "newcomer: make $target (log: $logs/$target.log)"
    env -u XDG_CACHE_HOME -u VIRTUAL_ENV \
        HOME="$work/home" \
        PIP_CACHE_DIR="$pip_cache" \
        MAVEN_OPTS="-Dmaven.repo.local=$maven_repo" \
        npm_config_cache="$npm_cache" \
        make --no-print-directory -C "$work/kinestream" PYTHON="$python" "$target" >"$logs/$target.log" 2>&1 || rc=$?
    results+=("$(printf 'make %-5s exit %3d  %4d s' "$target" "$rc" "$((SECONDS - began))")")
    ((rc == 0 || status != 0)) || status=$rc
}
newcomer_make run
newcomer_make test

echo
echo "newcomer: summary of a fresh clone with a fresh HOME ($(nproc) CPUs)"
echo "  commit   $commit"
printf '  %s\n' "${results[@]}"
echo "  make run printed:"
sed -n '/^Session summary/,$p' "$logs/run.log" | sed 's/^/    /'
echo "  make test ended with:"
grep -E '^==> .*: exit|^=+ .*(passed|failed|error).* in |^test\.sh: ([0-9]+ s|all|FAILED)' \
    "$logs/test.log" | sed 's/^/    /'
echo "  the slowest tests:"
sed -n '/slowest 15 durations/,/short test summary\|^=\+ .* in /p' "$logs/test.log" |
    grep -E '^[0-9.]+s (call|setup|teardown) ' | sed 's/^/    /'
exit "$status"
