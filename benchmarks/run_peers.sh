#!/usr/bin/env bash
# Random-play decisions/s: peer card-game envs (OpenSpiel, RLCard) vs ours, in one run.
#
# Throw-away venv: /tmp/tcg-peers-venv (override with PEERS_VENV=...). It is made with
# `python3 -m venv` and gets `pip install open-spiel rlcard numpy`; it is NOT the project
# venv and nothing is installed into /work/main/.venv. Reused if already there; pass
# --fresh to rebuild it, or delete it with `rm -rf /tmp/tcg-peers-venv` when done.
# A package that pip cannot install is recorded as unavailable (with pip's last lines)
# and the run carries on with whatever did install.
#
# Steps:
#   1. peers: $PEERS_VENV/bin/python benchmarks/peers.py --peers   (one JSON line)
#   2. ours:  /work/main/.venv/bin/python benchmarks/peers.py --ours (one JSON line),
#             with NUMBA_CACHE_DIR=/work/main/.numba_cache/bench and PYTHONPATH=/work/main
#   3. one combined JSON line: decisions/s per env and ratios ours/peer.
# Each env loop gets SECONDS_PER_ENV (default 4.5 s: median of 3 runs of 1.5 s).
#
# Usage: bash benchmarks/run_peers.sh [--fresh] [--seconds S]
set -u

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PEERS_VENV="${PEERS_VENV:-/tmp/tcg-peers-venv}"
OURS_PY="${OURS_PY:-$ROOT/.venv/bin/python}"
SECONDS_PER_ENV="${SECONDS_PER_ENV:-4.5}"
FRESH=0
while [ $# -gt 0 ]; do
  case "$1" in
    --fresh) FRESH=1 ;;
    --seconds) shift; SECONDS_PER_ENV="$1" ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done

WORK="$(mktemp -d /tmp/tcg-peers.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
INSTALL_JSON="$WORK/install.json"
echo '{}' > "$INSTALL_JSON"

record_install() {  # name status message-file
  python3 - "$INSTALL_JSON" "$1" "$2" "$3" <<'EOF'
import json, sys
path, name, status, msg = sys.argv[1:5]
d = json.load(open(path))
text = ""
if msg and msg != "-":
    lines = [l for l in open(msg, errors="replace").read().splitlines() if l.strip()]
    text = " | ".join(lines[-6:])
d[name] = status if not text else f"{status}: {text}"
json.dump(d, open(path, "w"))
EOF
}

# ---------------------------------------------------------------- 1. throw-away venv
if [ "$FRESH" = 1 ]; then rm -rf "$PEERS_VENV"; fi
PEERS_OK=1
if [ ! -x "$PEERS_VENV/bin/python" ]; then
  echo "[run_peers] creating $PEERS_VENV" >&2
  if ! python3 -m venv "$PEERS_VENV" >"$WORK/venv.log" 2>&1; then
    PEERS_OK=0
    record_install venv "failed" "$WORK/venv.log"
  fi
fi
if [ "$PEERS_OK" = 1 ]; then
  PIP="$PEERS_VENV/bin/python -m pip"
  echo "[run_peers] pip install open-spiel rlcard numpy" >&2
  if $PIP install open-spiel rlcard numpy >"$WORK/pip-all.log" 2>&1; then
    for p in open-spiel rlcard numpy; do record_install "$p" "ok" -; done
  else
    # Install what can be installed, one by one, and record what pip said for the rest.
    for p in numpy open-spiel rlcard; do
      if $PIP install "$p" >"$WORK/pip-$p.log" 2>&1; then
        record_install "$p" "ok" -
      else
        record_install "$p" "unavailable (pip install failed)" "$WORK/pip-$p.log"
        echo "[run_peers] pip could not install $p:" >&2
        tail -n 6 "$WORK/pip-$p.log" >&2
      fi
    done
  fi
fi

# ---------------------------------------------------------------- 2. the two sides
echo '{"side": "peers", "unavailable": "no throw-away venv"}' > "$WORK/peers.json"
if [ "$PEERS_OK" = 1 ]; then
  echo "[run_peers] peers ($PEERS_VENV/bin/python)" >&2
  if (cd "$WORK" && "$PEERS_VENV/bin/python" "$ROOT/benchmarks/peers.py" --peers --seconds "$SECONDS_PER_ENV") \
       >"$WORK/peers.out" 2>"$WORK/peers.err"; then
    tail -n 1 "$WORK/peers.out" > "$WORK/peers.json"
  else
    python3 -c 'import json,sys; print(json.dumps({"side":"peers","unavailable":open(sys.argv[1]).read()[-600:]}))' \
      "$WORK/peers.err" > "$WORK/peers.json"
  fi
  cat "$WORK/peers.json"
fi

echo "[run_peers] ours ($OURS_PY)" >&2
if (cd "$ROOT" && NUMBA_CACHE_DIR="$ROOT/.numba_cache/bench" PYTHONPATH="$ROOT" \
      "$OURS_PY" "$ROOT/benchmarks/peers.py" --ours --seconds "$SECONDS_PER_ENV") \
     >"$WORK/ours.out" 2>"$WORK/ours.err"; then
  tail -n 1 "$WORK/ours.out" > "$WORK/ours.json"
else
  python3 -c 'import json,sys; print(json.dumps({"side":"ours","unavailable":open(sys.argv[1]).read()[-600:]}))' \
    "$WORK/ours.err" > "$WORK/ours.json"
fi
cat "$WORK/ours.json"

# ---------------------------------------------------------------- 3. combined line
python3 - "$WORK/peers.json" "$WORK/ours.json" "$INSTALL_JSON" "$SECONDS_PER_ENV" <<'EOF'
import json, sys, time
peers, ours, install = (json.load(open(p)) for p in sys.argv[1:4])
rates, unavailable = {}, {}
for side in (peers, ours):
    if "unavailable" in side:
        unavailable[side.get("side", "?")] = side["unavailable"]
    for k, v in side.get("envs", {}).items():
        if "decisions_per_s" in v:
            rates[k] = v["decisions_per_s"]
        else:
            unavailable[k] = v.get("unavailable", "no rate")
ours_keys = [k for k in rates if k.startswith("ours_")]
peer_keys = [k for k in rates if not k.startswith("ours_")]
ratios = {f"{o}/{p}": round(rates[o] / rates[p], 2) for o in ours_keys for p in peer_keys if rates[p] > 0}
out = {"bench": "peers", "date": time.strftime("%Y-%m-%d"),
       "machine": ours.get("machine") or peers.get("machine"),
       "seconds_per_env": float(sys.argv[4]), "decisions_per_s": rates, "ratios_ours_over_peer": ratios,
       "peer_versions": peers.get("versions", {}), "install": install}
notes = {k: v["tensor"] for k, v in peers.get("envs", {}).items() if "tensor" in v}
if notes:
    out["openspiel_tensor_used"] = notes
if unavailable:
    out["unavailable"] = unavailable
print(json.dumps(out))
EOF
