// The status page's live parts: polls /status.json, re-renders the
// counters and the stream table (the server renders the same markup for
// readers without JavaScript) and draws the ingest bitrate chart. Every
// value from the server is set as text, never parsed as HTML.
(function () {
  'use strict';

  var body = document.body;
  var poll = parseInt(body.getAttribute('data-poll'), 10) || 2000;
  var keep = 5 * 60 * 1000; // longest chart span, ms
  var shortest = 30 * 1000; // the span grows from this as points arrive
  var points = []; // {t: unix ms, kbps: number}
  var updates = 0;

  function fixed(v, unit) {
    var a = Math.abs(v);
    return (a >= 100 ? v.toFixed(0) : a >= 10 ? v.toFixed(1) : v.toFixed(2)) + unit;
  }
  function kbps(k) { return k >= 1000 ? fixed(k / 1000, ' Mbit/s') : fixed(k, ' kbit/s'); }
  function bytes(v) {
    var units = 'kMGTPE';
    if (Math.abs(v) < 1000) return v + ' B';
    var f = v / 1000, i = 0;
    while (Math.abs(f) >= 1000 && i < units.length - 1) { f /= 1000; i++; }
    return fixed(f, ' ' + units.charAt(i) + 'B');
  }
  function duration(sec) {
    sec = Math.floor(sec);
    var h = Math.floor(sec / 3600), m = Math.floor(sec / 60) % 60, s = sec % 60;
    function two(n) { return (n < 10 ? '0' : '') + n; }
    if (h > 0) return h + 'h' + two(m) + 'm' + two(s) + 's';
    if (m > 0) return m + 'm' + two(s) + 's';
    return s + 's';
  }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function urlRow(name, value) {
    var d = el('div', 'url');
    if (name) d.appendChild(el('span', 'proto', name));
    var i = el('input');
    i.readOnly = true;
    i.value = value;
    i.setAttribute('value', value);
    i.setAttribute('aria-label', (name || 'command') + ' URL');
    d.appendChild(i);
    var b = el('button', 'copy', 'copy');
    b.type = 'button';
    d.appendChild(b);
    return d;
  }

  function streamRow(s) {
    var tr = el('tr');
    tr.setAttribute('data-path', s.path);
    tr.setAttribute('data-bitrate', String(s.bitrateKbps));
    tr.setAttribute('data-js', '1');
    var p = el('td', 'path', s.path);
    p.appendChild(el('div', 'remote', 'from ' + s.remote));
    tr.appendChild(p);
    tr.appendChild(el('td', '', s.protocol));
    tr.appendChild(el('td', '', (s.videoCodec || 'no video') + ' / ' + (s.audioCodec || 'no audio')));
    tr.appendChild(el('td', 'num', s.width ? s.width + '\u00d7' + s.height : '\u2013'));
    tr.appendChild(el('td', 'num', kbps(s.bitrateKbps)));
    tr.appendChild(el('td', 'num', duration(s.seconds)));
    tr.appendChild(el('td', 'num', String(s.subscribers)));
    tr.appendChild(el('td', 'num', String(s.drops)));
    tr.appendChild(el('td', 'num', s.keyframeInterval ? fixed(s.keyframeInterval, 's') : '\u2013'));
    tr.appendChild(el('td', 'num', String(s.framesIn)));
    var play = el('td', 'play');
    (s.play || []).forEach(function (u) { play.appendChild(urlRow(u.name, u.url)); });
    tr.appendChild(play);
    return tr;
  }

  function render(d) {
    var t = d.totals;
    var set = {
      streams: String(t.streams), ingestKbps: kbps(t.ingestKbps), payloadBytes: bytes(t.payloadBytes),
      copiedBytes: bytes(t.copiedBytes), allocInUse: bytes(t.allocInUse), gcCycles: String(t.gcCycles),
      heapInUse: bytes(t.heapInUse), players: String(t.players), egressBytes: bytes(t.egressBytes)
    };
    Object.keys(set).forEach(function (k) {
      var e = document.querySelector('[data-k="' + k + '"]');
      if (e) e.textContent = set[k];
    });

    var tbody = document.querySelector('#streams tbody');
    var rows = document.createDocumentFragment();
    (d.streams || []).forEach(function (s) { rows.appendChild(streamRow(s)); });
    // Keep a URL field the reader is selecting in: skip the swap while
    // focus is inside the table.
    if (!tbody.contains(document.activeElement)) {
      tbody.textContent = '';
      tbody.appendChild(rows);
    }

    var empty = document.getElementById('empty');
    empty.hidden = (d.streams || []).length > 0;
    if (d.testSource) {
      var input = empty.querySelector('input');
      if (input) input.value = d.testSource;
    }
    var trunc = document.getElementById('truncated');
    trunc.hidden = !d.truncated;
    trunc.textContent = (d.truncated || 0) + ' more streams are live; /api/streams lists them all.';

    var now = Date.now();
    points.push({ t: now, kbps: t.ingestKbps });
    while (points.length && points[0].t < now - keep) points.shift();
    draw(now);
    showCopyButtons();
  }

  function draw(now) {
    var c = document.getElementById('chart');
    if (!c || !c.getContext) return;
    var ratio = window.devicePixelRatio || 1;
    var w = c.clientWidth || 720, h = c.clientHeight || 140;
    if (c.width !== Math.round(w * ratio)) { c.width = Math.round(w * ratio); c.height = Math.round(h * ratio); }
    var g = c.getContext('2d');
    g.setTransform(ratio, 0, 0, ratio, 0, 0);
    g.clearRect(0, 0, w, h);
    var left = 74, right = 10, top = 10, bottom = 20;
    var span = points.length ? Math.min(Math.max(now - points[0].t, shortest), keep) : shortest;
    var pw = w - left - right, ph = h - top - bottom;
    var peak = 0;
    points.forEach(function (p) { peak = Math.max(peak, p.kbps); });
    var scale = niceCeil(Math.max(peak, 100));
    g.font = '11px system-ui, sans-serif';
    g.fillStyle = '#5f6b76';
    g.strokeStyle = '#dde2e7';
    g.lineWidth = 1;
    g.textAlign = 'right';
    g.textBaseline = 'middle';
    for (var i = 0; i <= 2; i++) {
      var y = top + ph - ph * i / 2;
      g.beginPath(); g.moveTo(left, y); g.lineTo(left + pw, y); g.stroke();
      g.fillText(axisLabel(scale * i / 2), left - 6, y);
    }
    g.textAlign = 'center';
    g.textBaseline = 'alphabetic';
    for (var j = 0; j <= 4; j++) {
      var ago = span * (4 - j) / 4 / 1000;
      g.textAlign = j === 0 ? 'left' : j === 4 ? 'right' : 'center';
      g.fillText(j === 4 ? 'now' : ago >= 60 ? '-' + +(ago / 60).toFixed(1) + ' min' : '-' + Math.round(ago) + ' s', left + pw * j / 4, h - 4);
    }
    if (points.length === 0) return;
    g.strokeStyle = '#0b6bcb';
    g.lineWidth = 2;
    g.beginPath();
    points.forEach(function (p, k) {
      var x = left + pw * (1 - (now - p.t) / span);
      var yy = top + ph - ph * Math.min(p.kbps / scale, 1);
      if (k === 0) g.moveTo(x, yy); else g.lineTo(x, yy);
    });
    if (points.length === 1) g.arc(left + pw, top + ph - ph * Math.min(points[0].kbps / scale, 1), 2, 0, 2 * Math.PI);
    g.stroke();
  }

  function axisLabel(k) { return k === 0 ? '0' : k >= 1000 ? +(k / 1000).toFixed(2) + ' Mbit/s' : +k.toFixed(1) + ' kbit/s'; }

  // niceCeil rounds v up to 1, 2 or 5 times a power of ten.
  function niceCeil(v) {
    var p = Math.pow(10, Math.floor(Math.log(v) / Math.LN10));
    var steps = [1, 2, 5, 10];
    for (var i = 0; i < steps.length; i++) if (steps[i] * p >= v) return steps[i] * p;
    return 10 * p;
  }

  function showCopyButtons() {
    var buttons = document.querySelectorAll('button.copy');
    for (var i = 0; i < buttons.length; i++) buttons[i].hidden = false;
  }

  document.addEventListener('click', function (ev) {
    var b = ev.target;
    if (!b.classList || !b.classList.contains('copy')) return;
    var input = b.parentNode.querySelector('input');
    if (!input) return;
    function done() {
      b.textContent = 'copied';
      b.classList.add('done');
      setTimeout(function () { b.textContent = 'copy'; b.classList.remove('done'); }, 1500);
    }
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(input.value).then(done, function () { input.select(); });
    } else {
      input.select();
      try { if (document.execCommand('copy')) done(); } catch (e) { /* selected: the reader copies */ }
    }
  });

  var badge = document.getElementById('live');
  function tick() {
    fetch('/status.json', { cache: 'no-store', credentials: 'same-origin' })
      .then(function (r) {
        if (!r.ok) throw new Error('status ' + r.status);
        return r.json();
      })
      .then(function (d) {
        render(d);
        updates++;
        body.setAttribute('data-updates', String(updates));
        badge.textContent = 'live';
        badge.className = 'badge live';
      })
      .catch(function () {
        badge.textContent = 'not updating';
        badge.className = 'badge stale';
      })
      .then(function () { setTimeout(tick, poll); });
  }
  showCopyButtons();
  draw(Date.now());
  tick();
})();
