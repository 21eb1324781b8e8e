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
    blocks.push({data: bytes.subarray(i + 4, i + 4 + n), ms: view.getUint32(i + 4 + padded)});
    i += 4 + padded + 4;
  }
  return blocks;
}

// What the viewer asked for: its pixel format (SetPixelFormat; null if none) and its encodings
// (SetEncodings), from the start of its stream.
export function viewerRequests(inputBlocks) {
  const total = inputBlocks.reduce((n, b) => n + b.data.length, 0);
  const s = new Uint8Array(total);
  let at = 0;
  for (const b of inputBlocks) { s.set(b.data, at); at += b.data.length; }
  // Version (12 bytes), the chosen security type (1; VNC authentication adds a 16-byte answer),
  // ClientInit (1), then the client's messages.
  const out = {format: null, encodings: []};
  let i = 12;
  if (i >= s.length) return out;
  i += s[i] === 2 ? 17 : 1;
  i += 1;
  const view = new DataView(s.buffer);
  while (i < s.length) {
    const type = s[i];
    if (type === 0 && i + 20 <= s.length) { out.format = Array.from(s.subarray(i + 4, i + 20)); i += 20; continue; }
    if (type === 2 && i + 4 <= s.length) {
      const n = (s[i + 2] << 8) | s[i + 3];
      for (let k = 0; k < n && i + 8 + 4 * k <= s.length; ++k) out.encodings.push(view.getInt32(i + 4 + 4 * k));
      i += 4 + 4 * n;
      continue;
    }
    if (type === 3) { i += 10; continue; }
    break;  // input events follow: what the player needs comes before them
  }
  return out;
}

// Encodings the server may have used that noVNC 1.3 cannot decode: zlib, ultra, ZlibHex, TRLE, ZRLE, ZYWRLE.
const UNDECODABLE = new Map([[6, 'zlib'], [9, 'ultra'], [8, 'zlibhex'], [15, 'TRLE'], [16, 'ZRLE'], [17, 'ZYWRLE']]);

// What noVNC asks every server for (32 bits a pixel, depth 24, little-endian, red in the lowest
// byte; the Web App and the console ask for the same): a recording made for a viewer that asked
// for another pixel format would show wrong colours here.
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
  // (The blocks are views into the whole recording: each message gets a buffer of its own.)
  deliver(data) {
    if (this.readyState === 'open' && this.onmessage) this.onmessage({data: data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength)});
  }
}

// Bytes handed to noVNC before the player lets it breathe: noVNC decodes JPEG rectangles
// asynchronously and queues what comes meanwhile; a seek over a long recording must not pile up
// more than its receive queue holds.
const BATCH = 1 << 20;

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
    // A recording of a password-protected server replays its challenge: any answer does.
    this.rfb = new RFB(this.target, this.channel, {shared: true, credentials: {password: ''}});
    this.rfb.viewOnly = true;
    this.rfb.scaleViewport = true;
    this.next = 0;
    this.now = 0;
    this.generation = (this.generation || 0) + 1;
  }

  // Delivers every block up to `ms`, at most a batch at a time; resolves once all are delivered,
  // or false if another seek or a pause took over meanwhile.
  async feedUntil(ms) {
    const generation = ++this.generation;
    let bytes = 0;
    while (this.next < this.blocks.length && this.blocks[this.next].ms <= ms) {
      const data = this.blocks[this.next++].data;
      this.channel.deliver(data);
      bytes += data.length;
      if (bytes >= BATCH) {
        bytes = 0;
        await new Promise((resolve) => setTimeout(resolve, 0));
        if (generation !== this.generation) return false;
      }
    }
    this.now = ms;
    this.onTime(ms);
    return true;
  }

  play() {
    if (this.playing) return;
    if (this.next >= this.blocks.length) { this.restart(); }
    this.playing = true;
    this.wallStart = performance.now();
    this.mediaStart = this.now;
    this.tick();
  }

  async tick() {
    if (!this.playing) return;
    const at = this.mediaStart + (performance.now() - this.wallStart) * this.speed;
    if (!(await this.feedUntil(Math.min(at, this.duration))) || !this.playing) return;
    if (this.next >= this.blocks.length) { this.playing = false; this.onTime(this.duration, true); return; }
    const wait = (this.blocks[this.next].ms - at) / this.speed;
    this.timer = setTimeout(() => this.tick(), Math.max(0, Math.min(wait, 250)));
  }

  pause() {
    this.playing = false;
    clearTimeout(this.timer);
    this.generation++;  // a batched delivery in progress stops where it is
  }

  setSpeed(speed) {
    const wasPlaying = this.playing;
    this.pause();
    this.speed = speed;
    if (wasPlaying) this.play();
  }

  async seek(ms) {
    const wasPlaying = this.playing;
    this.pause();
    if (ms < this.now || this.next > 0 && this.blocks[this.next - 1].ms > ms) this.restart();
    if ((await this.feedUntil(ms)) && wasPlaying) this.play();
  }

  close() {
    this.pause();
    if (this.rfb) this.rfb.disconnect();
    this.rfb = null;
  }
}

// Loads a recording's file piece by piece (the UMS answers at most a chunk at a time). For the
// browser copy ('play') the UMS answers 202 while it is still making it: `onPreparing` hears how
// far it has got (recorded milliseconds), and `info.stoppedEarly` says why a copy ends early.
export async function loadRecording(id, which, onProgress, onPreparing, info) {
  const parts = [];
  let offset = 0, total = 1;
  let prepared = -1, since = performance.now();
  while (offset < total) {
    const r = await fetch('/api/v1/recordings/' + encodeURIComponent(id) + '/' + which + '?offset=' + offset, {credentials: 'same-origin'});
    if (r.status === 202) {
      const said = await r.json();
      const at = said.prepared_ms || 0;
      // (Waiting behind another recording's copy is no lack of progress.)
      if (at !== prepared || said.waiting) { prepared = at; since = performance.now(); }
      if (performance.now() - since > 60000) throw new Error('the server made no progress preparing the recording for a minute');
      if (onPreparing) onPreparing(at, said.waiting);
      await new Promise((resolve) => setTimeout(resolve, 500));
      continue;
    }
    if (!r.ok) throw new Error((await r.json().catch(() => ({}))).error || r.statusText);
    total = Number(r.headers.get('X-Total-Length'));
    if (info) info.stoppedEarly = r.headers.get('X-Stopped-Early') || '';
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

// Why the recorded stream itself cannot be played here (null if it can): the UMS's browser copy
// of the recording is played instead (services/ums/browser_copy.hpp).
export function whyNotPlayable(inputBlocks) {
  const asked = viewerRequests(inputBlocks);
  const pf = asked.format;
  if (!pf) return "its viewer kept the server's pixel format";
  if (!sameFormat(pf)) return 'its viewer asked for another pixel format (' + pf[0] + ' bits, shifts ' + pf[10] + '/' + pf[11] + '/' + pf[12] + ')';
  const other = asked.encodings.filter((e) => UNDECODABLE.has(e)).map((e) => UNDECODABLE.get(e));
  if (other.length) return 'its viewer accepted encodings noVNC cannot decode (' + other.join(', ') + ')';
  return null;
}
