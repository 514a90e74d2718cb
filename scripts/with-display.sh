#!/usr/bin/env bash
# Runs a command with an X display of its own, for WebKitGTK (it has no headless mode here):
#
#   bash scripts/with-display.sh COMMAND [ARGS...]
#
# Starts Xvfb on a display it picks itself (-displayfd: the first free number, claimed
# through Xvfb's lock file, so two runs on one machine never share a display), runs
# COMMAND with DISPLAY set to it and XAUTHORITY unset, and kills that Xvfb when COMMAND
# ends or this script is interrupted. The exit status is COMMAND's.
#
# Why not `xvfb-run -a`: an X server resets when its last client disconnects, and a client
# that connects while it resets is refused: "cannot open display". Every test that closes
# its browser and starts the next one makes that moment, and WebKitWebDriver then waits for
# a browser that is gone. Measured on 2 cores under xvfb-run: 2 of 90 WebKit sessions
# started right after the previous one closed failed that way, and 39 of 2,600 xdpyinfo
# runs; with -noreset, 0 of 60 and 0 of 1,300. So this server never resets (-noreset),
# takes local clients only (-nolisten tcp), and needs no cookie (no -auth): no authority
# file that a process started without the caller's environment could miss.
set -euo pipefail

if [ "$#" -eq 0 ]; then
  echo "usage: bash scripts/with-display.sh COMMAND [ARGS...]" >&2
  exit 2
fi
if ! command -v Xvfb >/dev/null 2>&1; then
  echo "with-display: FAILED: Xvfb is not installed" >&2
  echo "with-display: to fix: run 'source scripts/setup.sh && payonce_setup' (it installs Debian's xvfb)" >&2
  exit 1
fi

dir="$(mktemp -d -t payonce-display.XXXXXX)"
xvfb=""
# A process that is gone or a zombie no longer holds the display.
running() { [ -n "$1" ] && [ -e "/proc/$1" ] && ! grep -q '^[0-9]* ([^)]*) Z' "/proc/$1/stat" 2>/dev/null; }
stop() {
  if running "$xvfb"; then
    kill "$xvfb" 2>/dev/null || true
    for _ in $(seq 1 50); do running "$xvfb" || break; sleep 0.1; done # 5 s, then KILL
    kill -9 "$xvfb" 2>/dev/null || true
    wait "$xvfb" 2>/dev/null || true
  fi
  rm -rf "$dir"
}
command=""
# A signal to this script goes to COMMAND too, then the display is stopped (EXIT).
quit() { [ -z "$command" ] || kill "-$1" "$command" 2>/dev/null || true; exit "$2"; }
trap stop EXIT
trap 'quit HUP 129' HUP
trap 'quit INT 130' INT
trap 'quit TERM 143' TERM

Xvfb -displayfd 3 -nolisten tcp -noreset -screen 0 1280x1024x24 3>"$dir/display" >"$dir/xvfb.log" 2>&1 &
xvfb=$!
display=""
for _ in $(seq 1 100); do # Xvfb writes the number once it accepts clients: at most 10 s
  display="$(head -n 1 "$dir/display" 2>/dev/null || true)"
  [ -n "$display" ] && break
  running "$xvfb" || break
  sleep 0.1
done
if [ -z "$display" ]; then
  echo "with-display: FAILED: Xvfb did not report a display within 10 s; its output:" >&2
  sed 's/^/  /' "$dir/xvfb.log" >&2
  exit 1
fi
echo "with-display: Xvfb on :$display (pid $xvfb, -noreset -nolisten tcp, no auth)" >&2

# In the background, so that a signal is handled at once (bash runs traps only between
# commands), with this script's stdin (a background command would get /dev/null).
DISPLAY=":$display" env -u XAUTHORITY "$@" <&0 &
command=$!
status=0
wait "$command" || status=$?
exit "$status"
