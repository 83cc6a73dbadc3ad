# Shared by the experiment scripts: finds (or builds) nca, parses --quick and the output folder.
# Sourced, not run. Sets: nca (the binary), quick (true/false), out (the output folder).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
quick=false
if [ "${1:-}" = "--quick" ]; then
    quick=true
    shift
fi
if [ -n "${NCA:-}" ]; then
    nca="$NCA"
else
    (cd "$root" && swift build -c release --product nca >/dev/null)
    nca="$root/.build/release/nca"
fi
