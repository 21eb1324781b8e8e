// Playback of a recorded session: noVNC's RFB core fed the recording's device-to-viewer stream
// through a stand-in for its WebSocket, block by block at the recorded times (README "Session
// recording": FBS 001.000 blocks of [length][data, padded to 4][milliseconds]).
import RFB from '/novnc/core/rfb.js';

// The FBS blocks of `bytes`: [{ms, data}].
export function fbsBlocks(bytes) {
  const header = new TextDecoder().decode(bytes.subarray(0, 12));
  if (header !== 'FBS 001.000\n') throw new Error('not an FBS 001.000 recording');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const blocks = [];
  for (let i = 12; i + 4 <= bytes.length;) {
    const n = view.getUint32(i);
    const padded = Math.ceil(n / 4) * 4;
    if (i + 4 + padded + 4 > bytes.length) break;  // a block cut off by the recording's end
    blocks.push({data: bytes.slice(i + 4, i + 4 + n), ms: view.getUint32(i + 4 + padded)});
    i += 4 + padded + 4;
  }
  return blocks;
}

// The pixel format the viewer asked for (its SetPixelFormat message), or null if it asked for none.
export function viewerPixelFormat(inputBlocks) {
  const total = inputBlocks.reduce((n, b) => n + b.data.length, 0);
  const s = new Uint8Array(total);
  let at = 0;
  for (const b of inputBlocks) { s.set(b.data, at); at += b.data.length; }
  // Version (12 bytes), the chosen security type (1; VNC authentication adds a 16-byte answer),
  // ClientInit (1), then the client's messages.
  let i = 12;
  if (i >= s.length) return null;
  i += s[i] === 2 ? 17 : 1;
  i += 1;
  while (i < s.length) {
    const type = s[i];
    if (type === 0) return i + 20 <= s.length ? Array.from(s.subarray(i + 4, i + 4 + 16)) : null;
    if (type === 2) { i += 4 + 4 * ((s[i + 2] << 8) | s[i + 3]); continue; }
    if (type === 3) { i += 10; continue; }
    return null;
  }
  return null;
}

// What noVNC asks every server for (32 bits a pixel, depth 24, little-endian, red in the lowest
// byte; the Web App and the console ask for the same): a recording made for a viewer that asked
// for another pixel format would show wrong colours, so it is refused.
function sameFormat(pf) {
  if (!pf) return false;
  const max = (i) => (pf[i] << 8) | pf[i + 1];
  return pf[0] === 32 && pf[1] === 24 && pf[2] === 0 && pf[3] === 1 && max(4) === 255 && max(6) === 255 && max(8) === 255 &&
         pf[10] === 0 && pf[11] === 8 && pf[12] === 16;
}

// The WebSocket noVNC expects, fed from the recording; what noVNC sends goes nowhere.
class RecordedChannel {
  constructor() {
    this.binaryType = 'arraybuffer';
    this.protocol = '';
    this.readyState = 'open';
    this.onopen = null;
    this.onmessage = null;
    this.onclose = null;
    this.onerror = null;
  }
  send() {}
  close() {
    this.readyState = 'closed';
    if (this.onclose) this.onclose({code: 1000, reason: '', wasClean: true});
  }
  deliver(data) { if (this.readyState === 'open' && this.onmessage) this.onmessage({data: data.buffer}); }
}

// A player on `target`: play(), pause(), seek(ms), speed; onTime(ms) reports progress.
export class Player {
  constructor(target, blocks, onTime) {
    this.target = target;
    this.blocks = blocks;
    this.onTime = onTime;
    this.duration = blocks.length ? blocks[blocks.length - 1].ms : 0;
    this.speed = 1;
    this.playing = false;
    this.timer = null;
    this.restart();
  }

  // A fresh RFB core at the recording's start (seeking back replays from there: RFB decoders
  // carry state from one update to the next).
  restart() {
    if (this.rfb) this.rfb.disconnect();
    this.target.replaceChildren();
    this.channel = new RecordedChannel();
    this.rfb = new RFB(this.target, this.channel, {shared: true});
    this.rfb.viewOnly = true;
    this.rfb.scaleViewport = true;
    this.next = 0;
    this.now = 0;
  }

  // Delivers every block up to `ms` at once.
  feedUntil(ms) {
    while (this.next < this.blocks.length && this.blocks[this.next].ms <= ms) this.channel.deliver(this.blocks[this.next++].data);
    this.now = ms;
    this.onTime(ms);
  }

  play() {
    if (this.playing) return;
    if (this.next >= this.blocks.length) { this.restart(); }
    this.playing = true;
    this.wallStart = performance.now();
    this.mediaStart = this.now;
    this.tick();
  }

  tick() {
    if (!this.playing) return;
    const at = this.mediaStart + (performance.now() - this.wallStart) * this.speed;
    this.feedUntil(Math.min(at, this.duration));
    if (this.next >= this.blocks.length) { this.playing = false; this.onTime(this.duration, true); return; }
    const wait = (this.blocks[this.next].ms - at) / this.speed;
    this.timer = setTimeout(() => this.tick(), Math.max(0, Math.min(wait, 250)));
  }

  pause() {
    this.playing = false;
    clearTimeout(this.timer);
  }

  setSpeed(speed) {
    const wasPlaying = this.playing;
    this.pause();
    this.speed = speed;
    if (wasPlaying) this.play();
  }

  seek(ms) {
    const wasPlaying = this.playing;
    this.pause();
    if (ms < this.now) this.restart();
    this.feedUntil(ms);
    if (wasPlaying) this.play();
  }

  close() {
    this.pause();
    if (this.rfb) this.rfb.disconnect();
    this.rfb = null;
  }
}

// Loads a recording's file piece by piece (the UMS answers at most a chunk at a time).
export async function loadRecording(id, which, onProgress) {
  const parts = [];
  let offset = 0, total = 1;
  while (offset < total) {
    const r = await fetch('/api/v1/recordings/' + encodeURIComponent(id) + '/' + which + '?offset=' + offset, {credentials: 'same-origin'});
    if (!r.ok) throw new Error((await r.json().catch(() => ({}))).error || r.statusText);
    total = Number(r.headers.get('X-Total-Length'));
    const part = new Uint8Array(await r.arrayBuffer());
    if (part.length === 0) break;
    parts.push(part);
    offset += part.length;
    if (onProgress) onProgress(offset, total);
  }
  const all = new Uint8Array(offset);
  let at = 0;
  for (const p of parts) { all.set(p, at); at += p.length; }
  return all;
}

export function checkPlayable(inputBlocks) {
  const pf = viewerPixelFormat(inputBlocks);
  if (!sameFormat(pf)) {
    throw new Error('the viewer of this recording asked for a pixel format the player cannot show (' +
                    (pf ? pf[0] + ' bits, shifts ' + pf[10] + '/' + pf[11] + '/' + pf[12] : 'none given') + ')');
  }
}
