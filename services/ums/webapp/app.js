// The Web App: log in (HttpOnly cookie), list devices, shadow one with noVNC over the UMS's
// WebSocket (same origin: the browser sends the cookie and its Origin; no token in the URL).
import RFB from '/novnc/core/rfb.js';
import {Player, fbsBlocks, loadRecording, whyNotPlayable} from '/player.js';

const $ = (id) => document.getElementById(id);
let rfb = null;
let devices = [];
let sessions = [];
let refresh = null;
let player = null;
let mayAudit = false;
let folders = [];     // the folder tree's paths the user may see ("a/b"); '' is the root
let chosenFolder = '';  // the devices of this folder and those below it are listed

function status(text, error = false) {
  $('status').textContent = text;
  $('status').classList.toggle('error', error);
}

// Error answers of the REST API are JSON {"error": "..."}; show their words, never raw JSON.
async function reason(response) {
  try { return (await response.json()).error || response.statusText; } catch { return response.statusText; }
}

// A table row: one cell per text, then a cell with one action button.
function tableRow(texts, label, action, disabled = false) {
  const row = document.createElement('tr');
  for (const text of texts) {
    const cell = document.createElement('td');
    cell.textContent = text;
    row.append(cell);
  }
  const button = document.createElement('button');
  button.type = 'button';
  button.textContent = label;
  button.disabled = disabled;
  button.addEventListener('click', action);
  const cell = document.createElement('td');
  cell.append(button);
  row.append(cell);
  return row;
}

const within = (folder, ancestor) => ancestor === '' || folder === ancestor || folder.startsWith(ancestor + '/');

// The folder tree beside the list: every folder the user may see and every folder a listed device
// is in, nested, each with how many of the listed devices are in it or below it.
function showTree() {
  const paths = new Set(folders);
  for (const d of devices) {
    for (let f = d.folder || ''; f !== ''; f = f.includes('/') ? f.slice(0, f.lastIndexOf('/')) : '') paths.add(f);
  }
  if (chosenFolder !== '' && !paths.has(chosenFolder)) chosenFolder = '';
  const children = new Map([['', []]]);
  for (const p of [...paths].sort()) {
    const parent = p.includes('/') ? p.slice(0, p.lastIndexOf('/')) : '';
    if (!children.has(parent)) children.set(parent, []);
    children.get(parent).push(p);
  }
  const item = (path) => {
    const li = document.createElement('li');
    const button = document.createElement('button');
    button.type = 'button';
    button.dataset.folder = path;
    button.textContent = path === '' ? 'All devices' : path.slice(path.lastIndexOf('/') + 1);
    const count = document.createElement('span');
    count.className = 'count';
    count.textContent = ' (' + devices.filter((d) => within(d.folder || '', path)).length + ')';
    button.append(count);
    button.setAttribute('aria-current', String(path === chosenFolder));
    button.addEventListener('click', () => { chosenFolder = path; showTree(); showDevices(); });
    li.append(button);
    const below = children.get(path) || [];
    if (below.length) {
      const ul = document.createElement('ul');
      for (const c of below) ul.append(item(c));
      li.append(ul);
    }
    return li;
  };
  const root = document.createElement('ul');
  root.append(item(''));
  $('tree').replaceChildren(root);
  $('folder-title').textContent = chosenFolder === '' ? '' : 'Folder ' + chosenFolder + ' and below';
}

function showDevices() {
  const filter = $('filter').value.trim().toLowerCase();
  const body = $('devices').querySelector('tbody');
  body.replaceChildren();
  for (const d of devices) {
    if (!within(d.folder || '', chosenFolder)) continue;
    if (filter && !(d.name.toLowerCase().includes(filter) || d.id.toLowerCase().includes(filter))) continue;
    const connector = d.online ? d.connector || '' : '';
    const seen = d.online && d.last_seen_s !== undefined ? d.last_seen_s + ' s ago' : '';
    // What the user may do here (their role and grants): view only, or nothing at all.
    const label = d.access === 'view_only' ? 'View' : 'Shadow';
    body.append(tableRow([d.name, d.id, d.folder ? d.folder : '/', d.os || '', d.online ? 'yes' : 'no', connector, seen, d.shadowed ? 'yes' : 'no'],
                         label, () => shadow(d), d.access === 'none' || !d.online || d.shadowed || rfb !== null));
  }
}

function showSessions() {
  const body = $('sessions').querySelector('tbody');
  body.replaceChildren();
  for (const x of sessions) {
    const since = x.age_s !== undefined ? x.age_s + ' s' : '';
    const path = x.via + (x.gateway ? ' via ' + x.gateway : '');
    body.append(tableRow([x.device, x.user, x.view_only ? 'view only' : 'full control', path, since, x.state],
                         'End session', () => endSession(x.id)));
  }
  $('sessions').hidden = sessions.length === 0;
  $('no-sessions').hidden = sessions.length !== 0;
}

async function endSession(id) {
  const r = await fetch('/api/v1/sessions/' + encodeURIComponent(id), {method: 'DELETE', credentials: 'same-origin'});
  if (!r.ok) status('Cannot end the session: ' + await reason(r), true);
  loadDevices();
}

const clock = (ms) => Math.floor(ms / 60000) + ':' + String(Math.floor(ms / 1000) % 60).padStart(2, '0');

async function loadRecordings() {
  if (!mayAudit) return;
  const r = await fetch('/api/v1/recordings', {credentials: 'same-origin'});
  if (!r.ok) return;
  const list = (await r.json()).recordings;
  const body = $('recordings').querySelector('tbody');
  body.replaceChildren();
  for (const x of list) {
    const length = x.ended ? clock(Date.parse(x.ended) - Date.parse(x.started)) : '';
    const size = Math.ceil((x.screen_bytes + x.input_bytes) / 1024) + ' KiB';
    body.append(tableRow([x.device, x.user, x.started, length, size, x.state], 'Play', () => openPlayer(x),
                         x.state === 'recording'));
  }
  $('recordings-title').hidden = false;
  $('recordings').hidden = list.length === 0;
  $('no-recordings').hidden = list.length !== 0;
}

let opening = 0;  // the latest Play click: an older one still loading gives way
async function openPlayer(x) {
  const mine = ++opening;
  if (player) player.close();
  player = null;
  $('player').hidden = false;
  $('player-title').textContent = x.device + ', ' + x.user + ', ' + x.started;
  $('play').disabled = true;
  status('Loading the recording of ' + x.device + '…');
  try {
    const input = fbsBlocks(await loadRecording(x.session, 'input'));
    // A recording noVNC cannot decode as it stands is played from the UMS's copy in noVNC's form.
    const why = whyNotPlayable(input);
    const info = {stoppedEarly: ''};
    const blocks = fbsBlocks(await loadRecording(x.session, why ? 'play' : 'screen', (done, total) =>
      status('Loading the recording of ' + x.device + '… ' + Math.round(100 * done / total) + ' %'), (ms, waiting) =>
      status('Preparing the recording of ' + x.device + ' for the browser (' + why + ')… ' +
             (waiting ? 'waiting for another recording\'s copy' : clock(ms) + ' done')), info));
    if (mine !== opening) return;
    player = new Player($('playback'), blocks, (ms, ended) => {
      $('seek').value = ms;
      $('position').textContent = clock(ms) + ' / ' + clock(player ? player.duration : ms);
      if (ended) $('play').textContent = 'Play';
    });
    window.shadowlinkPlayer = player;  // for the browser tests
    $('seek').max = player.duration;
    player.setSpeed(Number($('speed').value));
    $('play').disabled = false;
    $('play').textContent = 'Play';
    status('Recording of ' + x.device + ' (' + clock(player.duration) + (why ? ', prepared for the browser: ' + why : '') +
           (info.stoppedEarly ? '; it ends early: ' + info.stoppedEarly : '') + ')');
  } catch (e) {
    status('Cannot play the recording: ' + e.message, true);
  }
}

async function loadDevices() {
  const [r, s, f] = await Promise.all([fetch('/api/v1/devices', {credentials: 'same-origin'}),
                                       fetch('/api/v1/sessions', {credentials: 'same-origin'}),
                                       fetch('/api/v1/folders', {credentials: 'same-origin'})]);
  if (r.status === 401) { loggedOut('Your login has ended. Log in again.'); return; }
  if (!r.ok) { status('Cannot list devices: ' + await reason(r), true); return; }
  devices = (await r.json()).devices;
  if (f.ok) folders = (await f.json()).folders.map((x) => x.path);
  showTree();
  showDevices();
  if (s.ok) { sessions = (await s.json()).sessions; showSessions(); }
  loadRecordings();
}

function loggedIn(user, role) {
  mayAudit = role === 'admin' || role === 'auditor';
  $('login').hidden = true;
  $('devices-panel').hidden = false;
  $('who').textContent = user + ' (' + role + ')';
  $('who').hidden = false;
  $('logout').hidden = false;
  loadDevices();
  refresh = setInterval(loadDevices, 3000);
}

function loggedOut(message) {
  if (rfb) rfb.disconnect();
  if (player) player.close();
  player = null;
  $('player').hidden = true;
  $('recordings-title').hidden = true;
  $('recordings').hidden = true;
  $('no-recordings').hidden = true;
  clearInterval(refresh);
  $('login').hidden = false;
  $('devices-panel').hidden = true;
  $('viewer').hidden = true;
  $('who').hidden = true;
  $('logout').hidden = true;
  status(message);
}

// The set-up of a session, followed by the page's own reference for its request: the shadowing
// WebSocket carries only RFB, so the steps ("asking the device", "waiting for the device's
// user", "connecting") and the reason a session ended come from the REST API.
async function sessionOf(ref) {
  const r = await fetch('/api/v1/sessions?ref=' + encodeURIComponent(ref), {credentials: 'same-origin'});
  if (!r.ok) return null;
  const list = (await r.json()).sessions;
  return list.length ? list[list.length - 1] : null;
}

function followSetup(device, ref, viewOnly) {
  const started = Date.now();
  const timer = setInterval(async () => {
    const s = await sessionOf(ref);
    if (!s || s.state === 'active' || s.state === 'ended' || rfb === null) return;
    const waited = Math.round((Date.now() - started) / 1000);
    const left = s.deadline_s !== undefined ? ', gives up in ' + s.deadline_s + ' s' : '';
    status(device.name + (viewOnly ? ' (view only)' : '') + ': ' + s.state + '… (' + waited + ' s' + left + ')');
  }, 500);
  return () => clearInterval(timer);
}

// How the session ended, in the server's words (it records the end just after closing the tunnel).
async function endReason(ref) {
  for (let i = 0; i < 20; ++i) {
    const s = await sessionOf(ref);
    if (s && s.state === 'ended') return s.end_reason;
    await new Promise((resolve) => setTimeout(resolve, 150));
  }
  return '';
}

function shadow(device) {
  const viewOnly = $('view-only').checked || device.access === 'view_only';
  const ref = crypto.randomUUID();
  $('viewer').hidden = false;
  $('viewer-title').textContent = device.name + (viewOnly ? ' (view only)' : ' (full control)');
  $('keys').hidden = viewOnly;
  $('clipboard-panel').hidden = viewOnly;
  $('clipboard').value = '';
  status(device.name + ': starting…');
  const url = 'wss://' + location.host + '/webapp/shadow?device=' + encodeURIComponent(device.id) +
              (viewOnly ? '&view_only=1' : '') + '&ref=' + ref;
  rfb = new RFB($('screen'), url);
  rfb.scaleViewport = true;
  rfb.viewOnly = viewOnly;
  window.shadowlinkRfb = rfb;  // for the browser tests
  const stopFollowing = followSetup(device, ref, viewOnly);
  let connected = false;
  showDevices();
  rfb.addEventListener('connect', () => {
    connected = true;
    stopFollowing();
    status('Shadowing ' + device.name + (viewOnly ? ' (view only)' : ''));
    document.title = 'shadowing ' + device.id;
    loadDevices();
  });
  rfb.addEventListener('clipboard', (e) => { $('clipboard').value = e.detail.text; });
  rfb.addEventListener('disconnect', async (e) => {
    stopFollowing();
    rfb = null;
    $('viewer').hidden = true;
    document.title = 'shadowlink';
    const why = await endReason(ref);
    const words = !connected ? 'Could not shadow ' + device.name : 'Session with ' + device.name + (e.detail.clean ? ' ended' : ' lost');
    status(why ? words + ': ' + why : words + '.', !connected || !e.detail.clean);
    loadDevices();
  });
}

// Keys the browser or the administrator's own desktop would take for itself.
const XK = {Control_L: 0xffe3, Alt_L: 0xffe9, Super_L: 0xffeb, Delete: 0xffff, BackSpace: 0xff08, Tab: 0xff09,
            Escape: 0xff1b, F4: 0xffc1, Print: 0xff61};
const combos = {
  'ctrl-alt-del': [['Control_L', 'ControlLeft'], ['Alt_L', 'AltLeft'], ['Delete', 'Delete']],
  'ctrl-alt-backspace': [['Control_L', 'ControlLeft'], ['Alt_L', 'AltLeft'], ['BackSpace', 'Backspace']],
  'alt-tab': [['Alt_L', 'AltLeft'], ['Tab', 'Tab']],
  'alt-f4': [['Alt_L', 'AltLeft'], ['F4', 'F4']],
  'ctrl-esc': [['Control_L', 'ControlLeft'], ['Escape', 'Escape']],
  'super': [['Super_L', 'MetaLeft']],
  'print': [['Print', 'PrintScreen']],
};
function sendCombo(name) {
  const keys = combos[name];
  if (!rfb || !keys) return;
  for (const [sym, code] of keys) rfb.sendKey(XK[sym], code, true);
  for (const [sym, code] of [...keys].reverse()) rfb.sendKey(XK[sym], code, false);
  rfb.focus();
}

$('login').addEventListener('submit', async (e) => {
  e.preventDefault();
  const r = await fetch('/api/v1/login', {method: 'POST', credentials: 'same-origin',
    headers: {'Content-Type': 'application/json'},
    body: JSON.stringify({user: $('user').value, password: $('password').value})});
  if (!r.ok) { status('Login failed: ' + await reason(r), true); return; }
  $('password').value = '';
  status('');
  const who = await r.json();
  loggedIn(who.user, who.role);
});

$('logout').addEventListener('click', async () => {
  await fetch('/api/v1/logout', {method: 'POST', credentials: 'same-origin'});
  loggedOut('Logged out.');
});

$('filter').addEventListener('input', showDevices);
$('disconnect').addEventListener('click', () => { if (rfb) rfb.disconnect(); });
$('ctrl-alt-del').addEventListener('click', () => sendCombo('ctrl-alt-del'));
$('send-key').addEventListener('change', () => { sendCombo($('send-key').value); $('send-key').value = ''; });
$('clipboard-send').addEventListener('click', () => { if (rfb) rfb.clipboardPasteFrom($('clipboard').value); });
$('play').addEventListener('click', () => {
  if (!player) return;
  if (player.playing) { player.pause(); $('play').textContent = 'Play'; } else { player.play(); $('play').textContent = 'Pause'; }
});
$('seek').addEventListener('input', () => { if (player) player.seek(Number($('seek').value)); });
$('speed').addEventListener('change', () => { if (player) player.setSpeed(Number($('speed').value)); });
$('close-player').addEventListener('click', () => {
  if (player) player.close();
  player = null;
  $('player').hidden = true;
});
$('fullscreen').addEventListener('click', () => $('screen').requestFullscreen());
