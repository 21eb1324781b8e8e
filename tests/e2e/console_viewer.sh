#!/usr/bin/env bash
# `shadowlink view`, the console's internal viewer: its window (on an Xvfb screen standing in for
# the administrator's desktop, photographed with xwd) shows the device's Xvnc screen and scales it
# to the window; in full control the pointer and typed keys reach the device's X server, in
# view-only they do not; when the device's user ends the session, or the console is interrupted,
# the window says why and closes.
source "$(dirname "$0")/lib.sh"

step "start Xvnc (the device's screen), the UMS and the device agent"
start_xvnc
DEVICE_DISPLAY=$VNC_DISPLAY
start_ums_and_tc1

step "an Xvfb screen is the administrator's desktop"
d=$(free_display 401 700)
ADMIN_DISPLAY=":$d"
start admin-screen Xvfb "$ADMIN_DISPLAY" -screen 0 800x600x24 -nolisten tcp
for _ in $(seq 100); do [ -e "/tmp/.X11-unix/X$d" ] && break; sleep 0.1; done
# Xvfb's root stays black (it does not paint xsetroot's background): before the viewer draws, no
# red or blue is anywhere on this screen.
admin() { DISPLAY=$ADMIN_DISPLAY timeout 5 "$@"; }
# photo NAME: the admin screen as $WORK/NAME.png (xwd's dump, converted for png_probe).
photo() {
  admin xwd -root -silent > "$WORK/$1.xwd" || fail "xwd could not photograph the admin screen"
  timeout 20 python3 "$(dirname "$0")/../tools/xwd_to_png.py" "$WORK/$1.xwd" "$WORK/$1.png" || fail "could not convert $1.xwd"
}
pixel_is() { "$TOOLS/png_probe" "$@" > /dev/null 2>&1; }  # (check_checkerboard defines a probe of its own)
window_of() { { admin xdotool search --name "$1" 2> /dev/null || true; } | head -1; }
# window_origin TITLE: the top-left corner of the window's content, "X Y".
window_origin() {
  { admin xdotool search --name "$1" getwindowgeometry --shell %1 2> /dev/null || true; } | awk -F= '/^X=/{x=$2} /^Y=/{y=$2} END{print x, y}'
}
device_pointer() { DISPLAY=$DEVICE_DISPLAY timeout 5 xdotool getmouselocation | sed 's/ screen.*//'; }

step "negative control: the admin screen shows no checkerboard before a viewer is there"
photo empty
pixel_is "$WORK/empty.png" 4 4 0 0 0 || fail "the empty admin screen is not black: $("$TOOLS/png_probe" "$WORK/empty.png" 4 4)"
if pixel_is "$WORK/empty.png" 4 4 255 0 0; then fail "red before any viewer"; fi

start xev xev -display "$DEVICE_DISPLAY" -root -event keyboard
sleep 0.5
key_arrived() { grep -q "keysym 0x$(printf %x "'$1"), $1" "$WORK/xev.log"; }

step "full control: the window shows the device's screen at its size, then scaled to a larger window"
start console-full env DISPLAY="$ADMIN_DISPLAY" "${CLI[@]}" view tc-1
CONSOLE_PID=$LAST_PID
WIN=""
for _ in $(seq 100); do WIN=$(window_of "shadowlink: tc-1 - full control"); [ -n "$WIN" ] && break; sleep 0.1; done
[ -n "$WIN" ] || fail "no window titled 'shadowlink: tc-1 - full control': $(cat "$WORK/console-full.log")"
read -r WX WY < <(window_origin "shadowlink: tc-1")
for _ in $(seq 50); do photo full; pixel_is "$WORK/full.png" $((WX + 4)) $((WY + 4)) 255 0 0 && break; sleep 0.2; done
check_checkerboard "$WORK/full.png" "$WX" "$WY"
admin xdotool windowsize "$WIN" 640 480
sleep 1
read -r WX WY < <(window_origin "shadowlink: tc-1")
for _ in $(seq 50); do photo scaled; pixel_is "$WORK/scaled.png" $((WX + 24)) $((WY + 8)) 0 0 255 && break; sleep 0.2; done
# Twice the size: each 8-pixel square of the device is 16 pixels wide in the window.
pixel_is "$WORK/scaled.png" $((WX + 8)) $((WY + 8)) 255 0 0 || fail "scaled: (8,8) is not red"
pixel_is "$WORK/scaled.png" $((WX + 24)) $((WY + 8)) 0 0 255 || fail "scaled: (24,8) is $("$TOOLS/png_probe" "$WORK/scaled.png" $((WX + 24)) $((WY + 8))), expected blue"
pixel_is "$WORK/scaled.png" $((WX + 24)) $((WY + 24)) 255 0 0 || fail "scaled: (24,24) is not red"
if pixel_is "$WORK/scaled.png" $((WX + 12)) $((WY + 8)) 0 0 255; then fail "negative control: at twice the size (12,8) must still be red"; fi
echo "ok: the window shows the checkerboard at 1:1 and scaled to 640x480"

step "full control: pointer moves and typed keys reach the device"
admin xdotool windowfocus "$WIN"
for xy in "50 60" "100 40" "140 140"; do
  set -- $xy
  admin xdotool mousemove $(($1 + WX)) $(($2 + WY)) sleep 0.2
done
admin xdotool type --delay 50 k
for _ in $(seq 30); do key_arrived k && break; sleep 0.1; done
key_arrived k || fail "full control: the key typed into the window did not reach the device"
# The window is twice the device's size: (140,140) in it is (70,70) on the device.
AT=$(device_pointer)
[ "$AT" = "x:70 y:70" ] || fail "full control: the device's pointer is at $AT, not at x:70 y:70"
echo "ok: the pointer (at $AT) and the key reached the device"

step "the device's user ends the session: the window says why and closes, the console exits"
"$BIN/shadowlink-device" --socket "$WORK/device-data/tc-1/control.sock" end > /dev/null
wait_log console-full "ended: device closed" 10
for _ in $(seq 30); do [ -n "$(window_of "session ended: device closed")" ] && break; sleep 0.1; done
[ -n "$(window_of "session ended: device closed")" ] || fail "the window did not show why the session ended"
photo ended
# The picture stays, dimmed, under the message.
pixel_is "$WORK/ended.png" $((WX + 8)) $((WY + 8)) 90 0 0 || fail "the ended session's picture is $("$TOOLS/png_probe" "$WORK/ended.png" $((WX + 8)) $((WY + 8))), not dimmed red"
for _ in $(seq 100); do kill -0 "$CONSOLE_PID" 2> /dev/null || break; sleep 0.1; done
if kill -0 "$CONSOLE_PID" 2> /dev/null; then fail "the console did not exit after the session ended"; fi
[ -z "$(window_of "shadowlink: tc-1")" ] || fail "the window stayed open"
wait_count ums "AUDIT session ended: device=tc-1" 1 15

step "view-only: the window shows the screen, and nothing it sends moves the device's pointer or types"
DISPLAY=$DEVICE_DISPLAY timeout 5 xdotool mousemove 300 200
start console-vo env DISPLAY="$ADMIN_DISPLAY" "${CLI[@]}" view tc-1 --view-only
CONSOLE_PID=$LAST_PID
WIN=""
for _ in $(seq 100); do WIN=$(window_of "shadowlink: tc-1 - view only"); [ -n "$WIN" ] && break; sleep 0.1; done
[ -n "$WIN" ] || fail "no window titled 'shadowlink: tc-1 - view only'"
read -r WX WY < <(window_origin "shadowlink: tc-1")
for _ in $(seq 50); do photo view-only; pixel_is "$WORK/view-only.png" $((WX + 4)) $((WY + 4)) 255 0 0 && break; sleep 0.2; done
check_checkerboard "$WORK/view-only.png" "$WX" "$WY"
admin xdotool windowfocus "$WIN"
for xy in "50 60" "100 40" "70 70"; do
  set -- $xy
  admin xdotool mousemove $(($1 + WX)) $(($2 + WY)) sleep 0.2
done
admin xdotool click 1
admin xdotool type --delay 50 j
sleep 1
AT=$(device_pointer)
[ "$AT" = "x:300 y:200" ] || fail "view-only: the device's pointer moved to $AT"
if key_arrived j; then fail "view-only: the key typed into the window reached the device"; fi

step "Ctrl-C on the console ends the session; the window says so and closes"
kill -INT "$CONSOLE_PID"
wait_log console-vo "ended: console interrupted" 10
for _ in $(seq 100); do kill -0 "$CONSOLE_PID" 2> /dev/null || break; sleep 0.1; done
if kill -0 "$CONSOLE_PID" 2> /dev/null; then fail "the console did not exit after Ctrl-C"; fi
[ -z "$(window_of "shadowlink: tc-1")" ] || fail "the window stayed open"
wait_count ums "AUDIT session ended: device=tc-1" 2 15

step "without a display the console says so before the device is asked"
if env -u DISPLAY "${CLI[@]}" view tc-1 > "$WORK/nodisplay.out" 2>&1; then fail "view without a display succeeded"; fi
grep -q "cannot open a window" "$WORK/nodisplay.out" || fail "unclear error without a display: $(cat "$WORK/nodisplay.out")"
if grep -q "asking the device" "$WORK/nodisplay.out"; then fail "a session was requested without a window"; fi
[ "$(grep -c "AUDIT session ended" "$WORK/ums.log")" -eq 2 ] || fail "a session was held without a window"
echo "console viewer: all checks passed"
