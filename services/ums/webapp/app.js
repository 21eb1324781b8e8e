// The Web App: log in (HttpOnly cookie), list devices, shadow one with noVNC over the UMS's
// WebSocket (same origin: the browser sends the cookie and its Origin; no token in the URL).
import RFB from '/novnc/core/rfb.js';

const $ = (id) => document.getElementById(id);
let rfb = null;
let devices = [];
let sessions = [];
let refresh = null;

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

function showDevices() {
  const filter = $('filter').value.trim().toLowerCase();
  const body = $('devices').querySelector('tbody');
  body.replaceChildren();
  for (const d of devices) {
    if (filter && !(d.name.toLowerCase().includes(filter) || d.id.toLowerCase().includes(filter))) continue;
    const connector = d.online ? d.connector || '' : '';
    const seen = d.online && d.last_seen_s !== undefined ? d.last_seen_s + ' s ago' : '';
    body.append(tableRow([d.name, d.id, d.online ? 'yes' : 'no', connector, seen, d.shadowed ? 'yes' : 'no'],
                         'Shadow', () => shadow(d), !d.online || d.shadowed || rfb !== null));
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

async function loadDevices() {
  const [r, s] = await Promise.all([fetch('/api/v1/devices', {credentials: 'same-origin'}),
                                    fetch('/api/v1/sessions', {credentials: 'same-origin'})]);
  if (r.status === 401) { loggedOut('Your login has ended. Log in again.'); return; }
  if (!r.ok) { status('Cannot list devices: ' + await reason(r), true); return; }
  devices = (await r.json()).devices;
  showDevices();
  if (s.ok) { sessions = (await s.json()).sessions; showSessions(); }
}

function loggedIn(user) {
  $('login').hidden = true;
  $('devices-panel').hidden = false;
  $('who').textContent = user;
  $('who').hidden = false;
  $('logout').hidden = false;
  loadDevices();
  refresh = setInterval(loadDevices, 3000);
}

function loggedOut(message) {
  if (rfb) rfb.disconnect();
  clearInterval(refresh);
  $('login').hidden = false;
  $('devices-panel').hidden = true;
  $('viewer').hidden = true;
  $('who').hidden = true;
  $('logout').hidden = true;
  status(message);
}

function shadow(device) {
  const viewOnly = $('view-only').checked;
  $('viewer').hidden = false;
  $('viewer-title').textContent = device.name + (viewOnly ? ' (view only)' : ' (full control)');
  $('ctrl-alt-del').hidden = viewOnly;
  status('Connecting to ' + device.name + '…');
  const url = 'wss://' + location.host + '/webapp/shadow?device=' + encodeURIComponent(device.id) + (viewOnly ? '&view_only=1' : '');
  rfb = new RFB($('screen'), url);
  rfb.scaleViewport = true;
  rfb.viewOnly = viewOnly;
  window.shadowlinkRfb = rfb;  // for the browser tests
  showDevices();
  rfb.addEventListener('connect', () => {
    status('Shadowing ' + device.name + (viewOnly ? ' (view only)' : ''));
    document.title = 'shadowing ' + device.id;
    loadDevices();
  });
  rfb.addEventListener('disconnect', (e) => {
    rfb = null;
    $('viewer').hidden = true;
    document.title = 'shadowlink';
    status(e.detail.clean ? 'Session with ' + device.name + ' ended.' : 'Session with ' + device.name + ' lost.', !e.detail.clean);
    loadDevices();
  });
}

$('login').addEventListener('submit', async (e) => {
  e.preventDefault();
  const r = await fetch('/api/v1/login', {method: 'POST', credentials: 'same-origin',
    headers: {'Content-Type': 'application/json'},
    body: JSON.stringify({user: $('user').value, password: $('password').value})});
  if (!r.ok) { status('Login failed: ' + await reason(r), true); return; }
  $('password').value = '';
  status('');
  loggedIn((await r.json()).user);
});

$('logout').addEventListener('click', async () => {
  await fetch('/api/v1/logout', {method: 'POST', credentials: 'same-origin'});
  loggedOut('Logged out.');
});

$('filter').addEventListener('input', showDevices);
$('disconnect').addEventListener('click', () => { if (rfb) rfb.disconnect(); });
$('ctrl-alt-del').addEventListener('click', () => { if (rfb) rfb.sendCtrlAltDel(); });
$('fullscreen').addEventListener('click', () => $('screen').requestFullscreen());
