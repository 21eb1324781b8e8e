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
