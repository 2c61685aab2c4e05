// Console page for the pywebsocket-rs example handlers. Plain browser JavaScript, no libraries.
'use strict';

(() => {
  const $ = (id) => document.getElementById(id);
  const READY_NAMES = ['CONNECTING', 'OPEN', 'CLOSING', 'CLOSED'];
  const MAX_LOG_ENTRIES = 500;
  const PREVIEW_CHARS = 160;
  const PREVIEW_BYTES = 32;
  const RANDOM_CHUNK = 65536; // crypto.getRandomValues refuses larger requests
  const encoder = new TextEncoder();

  let socket = null;
  const totals = { sent: 0, sentBytes: 0, received: 0, receivedBytes: 0 };

  // ---- formatting -------------------------------------------------------

  function formatSize(bytes) {
    if (bytes < 1024) return `${bytes} B`;
    if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
    return `${(bytes / (1024 * 1024)).toFixed(2)} MiB`;
  }

  function formatTime(date) {
    const pad = (n, width) => String(n).padStart(width, '0');
    return `${pad(date.getHours(), 2)}:${pad(date.getMinutes(), 2)}:` +
      `${pad(date.getSeconds(), 2)}.${pad(date.getMilliseconds(), 3)}`;
  }

  function hexPreview(bytes, total) {
    const shown = Array.from(bytes.subarray(0, PREVIEW_BYTES),
      (b) => b.toString(16).padStart(2, '0')).join(' ');
    return total > PREVIEW_BYTES ? `${shown} …` : shown;
  }

  function textPreview(text) {
    return text.length > PREVIEW_CHARS ? `${text.slice(0, PREVIEW_CHARS)}…` : text;
  }

  // ---- input parsing ----------------------------------------------------

  function socketUrl(path) {
    const trimmed = path.trim();
    if (/^wss?:\/\//i.test(trimmed)) return trimmed;
    // The page's own scheme decides: a page served over TLS must use wss.
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const absolute = trimmed.startsWith('/') ? trimmed : `/${trimmed}`;
    return `${scheme}//${location.host}${absolute}`;
  }

  function parseProtocols(text) {
    return text.split(',').map((p) => p.trim()).filter((p) => p.length > 0);
  }

  function hexToBytes(text) {
    const digits = text.replace(/0x/gi, '').replace(/[\s,:]/g, '');
    if (!/^[0-9a-f]*$/i.test(digits)) throw new Error('Hex input may only contain 0-9, a-f, spaces, commas or colons.');
    if (digits.length % 2 !== 0) throw new Error('Hex input needs an even number of digits.');
    const bytes = new Uint8Array(digits.length / 2);
    for (let i = 0; i < bytes.length; i += 1) {
      bytes[i] = parseInt(digits.substr(i * 2, 2), 16);
    }
    return bytes;
  }

  function randomBytes(count) {
    const bytes = new Uint8Array(count);
    for (let offset = 0; offset < count; offset += RANDOM_CHUNK) {
      crypto.getRandomValues(bytes.subarray(offset, Math.min(count, offset + RANDOM_CHUNK)));
    }
    return bytes;
  }

  // ---- log --------------------------------------------------------------

  function addLogEntry(direction, kind, size, preview) {
    const log = $('log');
    const item = document.createElement('li');
    item.className = `entry ${direction}`;
    item.dataset.direction = direction;
    item.dataset.kind = kind;
    if (size !== null) item.dataset.size = String(size);

    const time = document.createElement('time');
    const now = new Date();
    time.dateTime = now.toISOString();
    time.textContent = formatTime(now);

    const arrow = document.createElement('span');
    arrow.className = 'arrow';
    const arrows = { out: '→ sent', in: '← received', event: '• event' };
    arrow.textContent = arrows[direction];

    const label = document.createElement('span');
    label.className = 'kind';
    label.textContent = size === null ? kind : `${kind}, ${formatSize(size)}`;

    const body = document.createElement('code');
    body.className = 'preview';
    body.textContent = preview;

    item.append(time, arrow, label, body);
    log.append(item);
    while (log.childElementCount > MAX_LOG_ENTRIES) log.firstElementChild.remove();
    log.scrollTop = log.scrollHeight;
    return body;
  }

  function renderTotals() {
    $('totals').textContent = `sent ${totals.sent} (${formatSize(totals.sentBytes)}) · ` +
      `received ${totals.received} (${formatSize(totals.receivedBytes)})`;
  }

  // ---- live state -------------------------------------------------------

  function renderState() {
    const state = socket ? socket.readyState : WebSocket.CLOSED;
    const badge = $('state-ready');
    badge.textContent = `${state} ${READY_NAMES[state]}`;
    badge.dataset.state = String(state);
    $('state-buffered').textContent = socket ? String(socket.bufferedAmount) : '0';
    $('state-protocol').textContent = socket && socket.protocol ? socket.protocol : '–';
    $('state-extensions').textContent = socket && socket.extensions ? socket.extensions : '–';
    const open = state === WebSocket.OPEN;
    const idle = state === WebSocket.CLOSED;
    $('connect-button').disabled = !idle;
    $('send-button').disabled = !open;
    $('close-button').disabled = !(open || state === WebSocket.CONNECTING);
  }

  function renderUrlPreview() {
    $('url-preview').textContent = socketUrl($('path-input').value);
  }

  // ---- socket -----------------------------------------------------------

  function showCloseEvent(event) {
    $('close-event-code').textContent = String(event.code);
    $('close-event-reason').textContent = event.reason === '' ? '(empty)' : event.reason;
    $('close-event-clean').textContent = String(event.wasClean);
  }

  function onMessage(event) {
    const data = event.data;
    totals.received += 1;
    if (typeof data === 'string') {
      const size = encoder.encode(data).length;
      totals.receivedBytes += size;
      addLogEntry('in', 'text', size, textPreview(data));
    } else if (data instanceof ArrayBuffer) {
      totals.receivedBytes += data.byteLength;
      addLogEntry('in', 'binary ArrayBuffer', data.byteLength, hexPreview(new Uint8Array(data), data.byteLength));
    } else {
      totals.receivedBytes += data.size;
      const body = addLogEntry('in', 'binary Blob', data.size, '…');
      data.slice(0, PREVIEW_BYTES).arrayBuffer().then((head) => {
        body.textContent = hexPreview(new Uint8Array(head), data.size);
      });
    }
    renderTotals();
  }

  function connect() {
    const url = socketUrl($('path-input').value);
    const protocols = parseProtocols($('protocols-input').value);
    let ws;
    try {
      ws = new WebSocket(url, protocols);
    } catch (error) {
      addLogEntry('event', 'error', null, `${error.name}: ${error.message}`);
      return;
    }
    socket = ws;
    ws.binaryType = $('binary-type').value;
    addLogEntry('event', 'connecting', null,
      protocols.length ? `${url} offering ${protocols.join(', ')}` : url);
    ws.addEventListener('open', () => {
      addLogEntry('event', 'open', null,
        `protocol: ${ws.protocol || '(none)'}; extensions: ${ws.extensions || '(none)'}`);
      renderState();
    });
    ws.addEventListener('message', onMessage);
    ws.addEventListener('error', () => {
      addLogEntry('event', 'error', null, 'the connection failed or was dropped');
    });
    ws.addEventListener('close', (event) => {
      addLogEntry('event', 'close', null,
        `code ${event.code}, reason ${JSON.stringify(event.reason)}, wasClean ${event.wasClean}`);
      showCloseEvent(event);
      renderState();
    });
    renderState();
  }

  function selectedKind() {
    return document.querySelector('input[name="kind"]:checked').value;
  }

  function buildPayload() {
    const kind = selectedKind();
    if (kind === 'text') {
      const text = $('message-input').value;
      return { data: text, kind: 'text', size: encoder.encode(text).length, preview: textPreview(text) };
    }
    let bytes;
    if (kind === 'hex') {
      bytes = hexToBytes($('message-input').value);
    } else {
      const count = Number($('random-count').value);
      if (!Number.isInteger(count) || count < 0) throw new Error('The byte count must be a whole number, 0 or more.');
      bytes = randomBytes(count);
    }
    const preview = hexPreview(bytes, bytes.length);
    if ($('binary-container').value === 'blob') {
      return { data: new Blob([bytes]), kind: 'binary Blob', size: bytes.length, preview };
    }
    return { data: bytes.buffer, kind: 'binary ArrayBuffer', size: bytes.length, preview };
  }

  function send() {
    const error = $('send-error');
    error.textContent = '';
    if (!socket || socket.readyState !== WebSocket.OPEN) {
      error.textContent = 'Not connected.';
      return;
    }
    let payload;
    try {
      payload = buildPayload();
    } catch (problem) {
      error.textContent = problem.message;
      return;
    }
    socket.send(payload.data);
    totals.sent += 1;
    totals.sentBytes += payload.size;
    addLogEntry('out', payload.kind, payload.size, payload.preview);
    renderTotals();
    renderState();
  }

  function closeSocket() {
    if (!socket) return;
    const codeText = $('close-code').value.trim();
    const reason = $('close-reason').value;
    try {
      if (codeText === '') {
        socket.close();
      } else {
        socket.close(Number(codeText), reason);
      }
      addLogEntry('event', 'closing', null,
        codeText === '' ? 'no code' : `code ${codeText}, reason ${JSON.stringify(reason)}`);
    } catch (problem) {
      addLogEntry('event', 'error', null, `${problem.name}: ${problem.message}`);
    }
    renderState();
  }

  // ---- wiring -----------------------------------------------------------

  function showKindFields() {
    const kind = selectedKind();
    $('text-field').hidden = kind === 'random';
    $('count-field').hidden = kind !== 'random';
    $('container-field').hidden = kind === 'text';
    $('text-field').querySelector('label').firstChild.textContent =
      kind === 'hex' ? 'Hex bytes ' : 'Message ';
  }

  function syncHandlerSelect() {
    const path = $('path-input').value.trim();
    const select = $('handler-select');
    const match = Array.from(select.options).find((option) => option.value === path);
    select.value = match ? path : '';
  }

  function wire() {
    $('handler-select').addEventListener('change', (event) => {
      if (event.target.value) {
        $('path-input').value = event.target.value;
      } else {
        $('path-input').focus();
      }
      renderUrlPreview();
    });
    $('path-input').addEventListener('input', () => {
      syncHandlerSelect();
      renderUrlPreview();
    });
    $('binary-type').addEventListener('change', (event) => {
      if (socket) socket.binaryType = event.target.value;
    });
    $('connect-form').addEventListener('submit', (event) => {
      event.preventDefault();
      connect();
    });
    $('send-form').addEventListener('submit', (event) => {
      event.preventDefault();
      send();
    });
    $('message-input').addEventListener('keydown', (event) => {
      if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        $('send-form').requestSubmit();
      }
    });
    $('close-form').addEventListener('submit', (event) => {
      event.preventDefault();
      closeSocket();
    });
    $('clear-log').addEventListener('click', () => {
      $('log').replaceChildren();
    });
    document.querySelectorAll('input[name="kind"]').forEach((radio) => {
      radio.addEventListener('change', showKindFields);
    });
  }

  // Settings in the query string (?path=/chat&protocols=a,b&connect=1) make a setup bookmarkable.
  function applyQuery() {
    const query = new URLSearchParams(location.search);
    if (query.has('path')) $('path-input').value = query.get('path');
    if (query.has('protocols')) $('protocols-input').value = query.get('protocols');
    syncHandlerSelect();
    renderUrlPreview();
    if (query.get('connect') === '1') connect();
  }

  wire();
  showKindFields();
  applyQuery();
  renderState();
  renderTotals();
  // bufferedAmount changes without any event, so the state panel polls.
  setInterval(renderState, 100);

  window.wsConsole = { get socket() { return socket; }, connect, send, close: closeSocket, totals };
})();
