#!/usr/bin/env bash
# A recorded session played back in the Web App, in Debian's headless Chromium
# (tests/browser/playback.mjs says what it checks), then exported by the console as an H.264 video
# (ffmpeg) and as PNG frames, whose colours must come in the recorded order. Screenshots are kept
# in $ARTIFACTS/playback.
source "$(dirname "$0")/lib.sh"
ensure_playwright
start_xvnc
start_ums_and_tc1 record
SHOTS=${ARTIFACTS:-$WORK}/playback
mkdir -p "$SHOTS"
step "record a session whose screen turns red, green, blue, and play it back"
DEVICE_DISPLAY=$VNC_DISPLAY timeout 120 node "$BROWSER_DIR/playback.mjs" "https://127.0.0.1:$UMS_PORT/" admin "$ADMIN_PASSWORD" "Thin client 1" "$SHOTS" | tee "$WORK/browser.log"
grep -q "ok: playback: all checks passed" "$WORK/browser.log" || fail "the playback test did not pass"

step "the recording exported as a video (ffmpeg, H.264) and as PNG frames shows the colours in order"
ID=$("${CLI[@]}" recordings --json | python3 -c 'import json,sys; print(next(r["session"] for r in json.load(sys.stdin)["recordings"] if r["state"] == "complete"))')
# colour_of PNG: the name of the colour at the screen's centre (H.264 is lossy: png_probe allows 16 a channel).
colour_of() {
  local name
  for name in "red 255 0 0" "green 0 255 0" "blue 0 0 255"; do
    set -- $name
    "$TOOLS/png_probe" "$PNG" 160 120 "$2" "$3" "$4" > /dev/null && { echo "$1"; return; }
  done
  echo other
}
# ordered DIR: prints the colours of DIR's PNGs (by name), repeats folded; true if they hold red,
# then green, then blue.
ordered() {
  local seen="" c
  for PNG in "$1"/*.png; do
    c=$(colour_of)
    [ "${seen##* }" = "$c" ] || seen="$seen $c"
  done
  echo "  $1:$seen"
  [[ "$seen" =~ red.*green.*blue ]]
}
"${CLI[@]}" recording export "$ID" "$WORK/export.mp4" | tee "$WORK/export.log"
grep -q "^exported recording $ID: 320x240" "$WORK/export.log" || fail "export said: $(cat "$WORK/export.log")"
[ "$(stat -c %a "$WORK/export.mp4")" = 600 ] || fail "the video is mode $(stat -c %a "$WORK/export.mp4"), not 600"
STREAM=$(ffprobe -v error -show_entries stream=codec_name,width,height -of csv=p=0 "$WORK/export.mp4")
[ "$STREAM" = "h264,320,240" ] || fail "the video is not 320x240 H.264: $STREAM"
mkdir "$WORK/from-video"
ffmpeg -v error -i "$WORK/export.mp4" "$WORK/from-video/%04d.png"  # every frame
ordered "$WORK/from-video" || fail "the video's colours are not red, green, blue in order"
# Negative control: the same frames played backwards fail the same check.
mkdir "$WORK/backwards"
N=0
for f in $(ls "$WORK"/from-video/*.png | sort -r); do N=$((N + 1)); ln -s "$f" "$WORK/backwards/$(printf %04d $N).png"; done
if ordered "$WORK/backwards"; then fail "negative control: frames in reverse order passed as red, green, blue"; fi

"${CLI[@]}" recording export "$ID" "$WORK/frames" --frames --fps 4 | tee "$WORK/frames.log"
grep -q "PNG frames" "$WORK/frames.log" || fail "frames export said: $(cat "$WORK/frames.log")"
[ "$(stat -c %a "$WORK/frames")" = 700 ] || fail "the frames' directory is mode $(stat -c %a "$WORK/frames")"
ordered "$WORK/frames" || fail "the PNG frames' colours are not red, green, blue in order"

step "without ffmpeg, export writes PNG frames instead and says so; a wrong id is a clear error"
PATH=/nonexistent "${CLI[@]}" recording export "$ID" "$WORK/no-ffmpeg.mp4" > "$WORK/no-ffmpeg.log" 2>&1 || fail "export without ffmpeg failed: $(cat "$WORK/no-ffmpeg.log")"
grep -q "ffmpeg is not installed" "$WORK/no-ffmpeg.log" || fail "export without ffmpeg did not say so: $(cat "$WORK/no-ffmpeg.log")"
[ -s "$WORK/no-ffmpeg-frames/frame-000000.png" ] || fail "export without ffmpeg wrote no frames"
[ ! -e "$WORK/no-ffmpeg.mp4" ] || fail "export without ffmpeg left a video file"
if "${CLI[@]}" recording export s-00000000000000ff "$WORK/none.mp4" > "$WORK/none.log" 2>&1; then fail "an unknown recording was exported"; fi
grep -q "cannot fetch recording s-00000000000000ff" "$WORK/none.log" || fail "unknown recording: $(cat "$WORK/none.log")"
[ ! -e "$WORK/none.mp4" ] || fail "a failed export left a file behind"
echo "ok: recording $ID exported"

step "a session recorded for TigerVNC's vncviewer (through shadow, in its own pixel format) plays back from the UMS's browser copy"
d=$(free_display 401 700)
start viewer-screen Xvfb ":$d" -screen 0 640x480x24 -nolisten tcp
for _ in $(seq 100); do [ -S "/tmp/.X11-unix/X$d" ] && break; sleep 0.1; done
DISPLAY=$VNC_DISPLAY timeout 10 xsetroot -bitmap "$WORK/cb.xbm" -fg red -bg blue
start console-tiger "${CLI[@]}" shadow tc-1 --listen 127.0.0.1:0
PORT=$(listen_port console-tiger 20)
start vncviewer env DISPLAY=":$d" vncviewer -Shared -RemoteResize=0 "127.0.0.1::$PORT"
VIEWER_PID=$LAST_PID
wait_count ums "recording session " 2 20
sleep 2
for colour in red green blue; do DISPLAY=$VNC_DISPLAY timeout 10 xsetroot -solid $colour; sleep 1.5; done
kill "$VIEWER_PID"
complete() { "${CLI[@]}" recordings --json | python3 -c 'import json,sys; print(sum(r["state"] == "complete" for r in json.load(sys.stdin)["recordings"]))'; }
for _ in $(seq 100); do [ "$(complete)" = 2 ] && break; sleep 0.2; done
[ "$(complete)" = 2 ] || fail "vncviewer's session was not recorded completely: $("${CLI[@]}" recordings)"
TIGER=$("${CLI[@]}" recordings --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["recordings"][0]["session"])')
[ "$TIGER" != "$ID" ] || fail "the newest recording is still the Web App's"
# The pixel format the recording is in: the viewer's SetPixelFormat (before its other messages),
# else the server's own (ServerInit), which the viewer kept. noVNC's has red shifted by 0, so the
# player could not show this recording as it stands: the case the browser copy is for.
RED_SHIFT=$(python3 - "$(find "$WORK" -name "$TIGER.fbs" | head -1)" "$(find "$WORK" -name "$TIGER.input.fbs" | head -1)" <<'PY'
import struct, sys
def stream(path):
    b, s, i = open(path, 'rb').read(), b'', 12
    while i + 4 <= len(b):
        n = struct.unpack('>I', b[i:i + 4])[0]
        s += b[i + 4:i + 4 + n]
        i += 8 + (n + 3) // 4 * 4
    return s
server, viewer = stream(sys.argv[1]), stream(sys.argv[2])
j = 12 + (17 if viewer[12] == 2 else 1) + 1  # version, security type, ClientInit
while j < len(viewer) and viewer[j] in (2, 3):  # SetEncodings, update requests
    j += 4 + 4 * struct.unpack('>H', viewer[j + 2:j + 4])[0] if viewer[j] == 2 else 10
if j + 20 <= len(viewer) and viewer[j] == 0:
    print(viewer[j + 14])
else:  # version, security types, SecurityResult (RFB 3.8), then ServerInit's size and format
    print(server[12 + 1 + server[12] + 4 + 4 + 10])
PY
)
echo "  vncviewer's recording has red shifted by $RED_SHIFT"
[ "$RED_SHIFT" != 0 ] || fail "vncviewer's recording is in noVNC's pixel format (red shift $RED_SHIFT): nothing to convert"
mkdir -p "$SHOTS/tigervnc"
RECORDED_ELSEWHERE=1 DEVICE_DISPLAY=$VNC_DISPLAY timeout 150 node "$BROWSER_DIR/playback.mjs" "https://127.0.0.1:$UMS_PORT/" admin "$ADMIN_PASSWORD" "Thin client 1" "$SHOTS/tigervnc" | tee "$WORK/browser-tiger.log"
grep -q "ok: playback: all checks passed" "$WORK/browser-tiger.log" || fail "the playback of vncviewer's recording did not pass"
COPY=$(find "$WORK" -name "$TIGER.play.fbs" | head -1)
[ -n "$COPY" ] && [ "$(stat -c %a "$COPY")" = 600 ] || fail "the browser copy is missing or not mode 600: ${COPY:-none}"
echo "ok: vncviewer's recording $TIGER played from its browser copy"

step "a recording the copy cannot decode (16-bit pixels) gets the copier's reason, and the UMS goes on serving"
RECS=$(dirname "$COPY")
BAD=s-00000000000000bad
cp "$RECS/$TIGER.fbs" "$RECS/$BAD.fbs"
sed "s/$TIGER/$BAD/g" "$RECS/$TIGER.json" > "$RECS/$BAD.json"
# The viewer's stream: RFB 3.8, security None, ClientInit, SetPixelFormat of 16 bits a pixel.
python3 - "$RECS/$BAD.input.fbs" <<'PY'
import struct, sys
data = b'RFB 003.008\n' + bytes([1, 1, 0, 0, 0, 0]) + bytes([16, 16, 0, 1, 0, 31, 0, 63, 0, 31, 11, 5, 0, 0, 0, 0])
open(sys.argv[1], 'wb').write(b'FBS 001.000\n' + struct.pack('>I', len(data)) + data + b'\0' * (-len(data) % 4) + struct.pack('>I', 0))
PY
rest() { curl -s --max-time 10 --cacert "$WORK/data/ca.pem" -H "Authorization: Bearer $API_TOKEN" "$@"; }
CODE=""
for _ in $(seq 50); do
  CODE=$(rest -o "$WORK/bad.json" -w '%{http_code}' "https://127.0.0.1:$UMS_PORT/api/v1/recordings/$BAD/play?offset=0")
  [ "$CODE" = 202 ] || break
  sleep 0.2
done
[ "$CODE" = 422 ] || fail "the undecodable recording's copy answered $CODE: $(cat "$WORK/bad.json")"
grep -q "cannot prepare the recording for the browser: .*16-bit" "$WORK/bad.json" || fail "no reason given: $(cat "$WORK/bad.json")"
[ ! -e "$RECS/$BAD.play.fbs" ] && [ ! -e "$RECS/$BAD.play.fbs.part" ] || fail "a failed copy left a file"
wait_log ums "recording $BAD: no browser copy: .*16-bit" 5
# The good copy is still served whole.
CODE=$(rest -o "$WORK/good.fbs" -w '%{http_code}' "https://127.0.0.1:$UMS_PORT/api/v1/recordings/$TIGER/play?offset=0")
[ "$CODE" = 200 ] && cmp -s "$WORK/good.fbs" "$COPY" || fail "the good copy is no longer served ($CODE)"
echo "ok: an undecodable recording is refused with the copier's reason"
