#!/usr/bin/env bash
# daemon.sh start|kill WORK EASELD — the test daemon of the OBS tests, by PID file.
set -u
cmd=$1 WORK=$2 EASELD=${3:-}
case "$cmd" in
start)
    rm -f "$WORK/easeld.sock"
    "$EASELD" --config "$WORK/easel.toml" >>"$WORK/easeld.log" 2>&1 </dev/null &
    echo $! >"$WORK/easeld.pid"
    for _ in $(seq 100); do [ -S "$WORK/easeld.sock" ] && exit 0; sleep 0.1; done
    echo "easeld did not start; see $WORK/easeld.log" >&2; exit 1 ;;
kill)
    [ -f "$WORK/easeld.pid" ] && kill -KILL "$(cat "$WORK/easeld.pid")" 2>/dev/null
    rm -f "$WORK/easeld.pid"; exit 0 ;;
esac
