#!/usr/bin/env bash
# TigerVNC's vncviewer, the most common real viewer, through `shadowlink shadow`: it shows the
# device's screen in full control and in view-only (it used to stay black in view-only: its
# extended-clipboard message has a negative length), and its pointer moves reach the device's X
# server in full control (the positive control) but not in view-only.
# The viewer runs on a screen of its own (a second Xvnc) which gvnccapture photographs.
source "$(dirname "$0")/lib.sh"

step "start Xvnc (the device's screen), the UMS and the device agent"
start_xvnc
DEVICE_DISPLAY=$VNC_DISPLAY
start_ums_and_tc1

step "a second Xvnc is the administrator's screen, where vncviewer opens its window"
d=$(free_display 401 700)
# gvnccapture takes display numbers: the screen's VNC port is Xvnc's default, 5900 + display.
ADMIN_DISPLAY=":$d" ADMIN_VNC=$((5900 + d))
start admin-screen Xvnc "$ADMIN_DISPLAY" -geometry 640x480 -depth 24 -interface 127.0.0.1 \
  -nolisten tcp -SecurityTypes None -AlwaysShared
wait_port "$ADMIN_VNC" 10
# A green background: before the viewer draws, no red or blue is anywhere on this screen.
DISPLAY=$ADMIN_DISPLAY timeout 10 xsetroot -solid green

device_pointer() { DISPLAY=$DEVICE_DISPLAY timeout 5 xdotool getmouselocation | sed 's/ screen.*//'; }

# viewer_session MODE NAME: a console session (MODE is "" or --view-only) with vncviewer on the
# admin screen; photographs the screen and sweeps the admin pointer over the viewer's window.
viewer_session() {
  local mode=$1 name=$2 port
  start "console-$name" "${CLI[@]}" shadow tc-1 --listen 127.0.0.1:0 $mode
  port=$(listen_port "console-$name" 20)
  start "vncviewer-$name" env DISPLAY="$ADMIN_DISPLAY" vncviewer -Shared -RemoteResize=0 -geometry 320x240+0+0 "127.0.0.1::$port"
  VIEWER_PID=$LAST_PID
  # Without a window manager the window's content lands near the top-left; ask X where exactly.
  local wx="" wy=""
  for _ in $(seq 100); do
    read -r wx wy < <(DISPLAY=$ADMIN_DISPLAY timeout 5 xdotool search --name "TigerVNC" getwindowgeometry --shell %1 2>/dev/null |
                      awk -F= '/^X=/{x=$2} /^Y=/{y=$2} END{print x, y}') || true
    [ -n "$wx" ] && break
    sleep 0.1
  done
  [ -n "$wx" ] || fail "no vncviewer window on the admin screen"
  # Wait for the checkerboard's red in it.
  for _ in $(seq 100); do
    timeout 10 gvnccapture "127.0.0.1:$((ADMIN_VNC - 5900))" "$WORK/$name.png" > /dev/null 2>&1 || true
    "$TOOLS/png_probe" "$WORK/$name.png" $((wx + 4)) $((wy + 4)) 255 0 0 > /dev/null 2>&1 && break
    sleep 0.2
  done
  check_checkerboard "$WORK/$name.png" "$wx" "$wy"
  WX=$wx WY=$wy
  BEFORE=$(device_pointer)
  # FLTK forwards pointer motion once its window has the focus; a click sends the position too.
  local win
  win=$(DISPLAY=$ADMIN_DISPLAY timeout 5 xdotool search --name "TigerVNC" | head -1)
  DISPLAY=$ADMIN_DISPLAY timeout 5 xdotool windowfocus "$win"
  for xy in "50 60" "100 40" "30 90" "70 70"; do
    set -- $xy
    DISPLAY=$ADMIN_DISPLAY timeout 5 xdotool mousemove $(($1 + WX)) $(($2 + WY)) sleep 0.2
  done
  DISPLAY=$ADMIN_DISPLAY timeout 5 xdotool click 1
  # A key typed into the viewer's window (a different letter per session, read back with xev).
  DISPLAY=$ADMIN_DISPLAY timeout 5 xdotool type --delay 50 "$KEY"
  sleep 0.5
  AFTER=$(device_pointer)
  echo "device pointer before: $BEFORE, after: $AFTER"
}

step "negative control: the admin screen shows no checkerboard before a viewer is there"
timeout 10 gvnccapture "127.0.0.1:$((ADMIN_VNC - 5900))" "$WORK/empty.png" > /dev/null 2>&1
if "$TOOLS/png_probe" "$WORK/empty.png" 4 4 255 0 0 > /dev/null; then fail "red before any viewer"; fi

start xev xev -display "$DEVICE_DISPLAY" -root -event keyboard  # the device's key events
sleep 0.5
key_arrived() { grep -q "keysym 0x$(printf %x "'$1"), $1" "$WORK/xev.log"; }

step "full control: the viewer shows the screen and its pointer moves and keys reach the device"
KEY=k viewer_session "" full
[ "$AFTER" = "x:70 y:70" ] || fail "full control: the device's pointer is at $AFTER, not where the viewer put it (x:70 y:70)"
for _ in $(seq 30); do key_arrived k && break; sleep 0.1; done
key_arrived k || fail "full control: the key typed into vncviewer did not reach the device"
kill "$VIEWER_PID"
wait_count ums "AUDIT session ended: device=tc-1" 1 15
DISPLAY=$ADMIN_DISPLAY timeout 10 xsetroot -solid green

step "view-only: the viewer shows the screen and nothing it sends moves the device's pointer or types"
# Put the device's pointer somewhere the sweep would not leave it.
DISPLAY=$DEVICE_DISPLAY timeout 5 xdotool mousemove 300 200
KEY=j viewer_session --view-only view-only
[ "$BEFORE" = "$AFTER" ] || fail "view-only: the device's pointer moved from $BEFORE to $AFTER"
if key_arrived j; then fail "view-only: the key typed into vncviewer reached the device"; fi
[ "$AFTER" = "x:300 y:200" ] || fail "view-only: the device's pointer is at $AFTER, not where it was put"
grep -q "shadow request from automation (view only)" "$WORK/device.log" || fail "the device did not see the view-only flag"
# The session is still alive after the viewer's clipboard and input messages: the screen follows.
DISPLAY=$DEVICE_DISPLAY timeout 10 xsetroot -solid blue
for _ in $(seq 50); do
  timeout 10 gvnccapture "127.0.0.1:$((ADMIN_VNC - 5900))" "$WORK/follow.png" > /dev/null 2>&1 || true
  "$TOOLS/png_probe" "$WORK/follow.png" $((WX + 4)) $((WY + 4)) 0 0 255 > /dev/null 2>&1 && break
  sleep 0.2
done
"$TOOLS/png_probe" "$WORK/follow.png" $((WX + 4)) $((WY + 4)) 0 0 255 > /dev/null || fail "view-only: the viewer did not follow the device's screen change"
if grep -q "ended" "$WORK/console-view-only.log"; then fail "view-only session ended early: $(cat "$WORK/console-view-only.log")"; fi
kill "$VIEWER_PID"
wait_count ums "AUDIT session ended: device=tc-1" 2 15
# The UMS filtered the view-only viewer's input itself (the device filters again behind it).
wait_log ums "view only: [1-9][0-9]* input messages dropped" 10
echo "ok: the UMS dropped $(sed -n 's/.*view only: \([0-9]*\) input messages dropped.*/\1/p' "$WORK/ums.log" | tail -1) input messages of the view-only viewer"
echo "real viewers: all checks passed"
