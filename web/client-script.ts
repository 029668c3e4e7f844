/**
 * The dashboard's only script besides htmx, served as /assets/wasmbed.js (no inline script,
 * so the Content-Security-Policy can forbid inline code). It opens one EventSource per page
 * (`data-stream` on <body>): `swap` events replace the inner HTML of elements by id (HTML the
 * server rendered with every value escaped), `log` events append log lines built with
 * textContent, so a log line is always text, never markup.
 */
export const CLIENT_JS = `(function () {
  'use strict';
  var body = document.body;
  var url = body.getAttribute('data-stream');
  if (!url) return;
  var es = new EventSource(url);
  es.addEventListener('open', function () { body.setAttribute('data-live', 'on'); });
  es.addEventListener('error', function () { body.setAttribute('data-live', 'off'); });
  es.addEventListener('swap', function (e) {
    var fragments = JSON.parse(e.data);
    Object.keys(fragments).forEach(function (id) {
      var el = document.getElementById(id);
      if (!el) return;
      el.innerHTML = fragments[id];
      if (window.htmx) window.htmx.process(el);
    });
    body.setAttribute('data-live', 'on');
    body.setAttribute('data-updates', String(Number(body.getAttribute('data-updates') || 0) + 1));
  });
  // Table rows keyed by id: only changed rows arrive; the rest of the table stays as it is.
  es.addEventListener('rows', function (e) {
    var m = JSON.parse(e.data);
    var tbody = document.getElementById(m.target);
    if (!tbody) return;
    // Rows without an id are placeholders ("no devices yet"); a form's error (data-notice) stays
    // until the operator's next submission re-renders the table.
    Array.prototype.slice.call(tbody.children).forEach(function (row) {
      if (!row.id && !row.hasAttribute('data-notice')) tbody.removeChild(row);
    });
    m.remove.forEach(function (id) { var el = document.getElementById(id); if (el) el.remove(); });
    Object.keys(m.upsert).forEach(function (id) {
      var tpl = document.createElement('template');
      tpl.innerHTML = m.upsert[id];
      var row = tpl.content.firstElementChild;
      if (!row) return;
      var old = document.getElementById(id);
      if (old) old.replaceWith(row); else tbody.appendChild(row);
      if (window.htmx) window.htmx.process(row);
    });
    if (m.order) m.order.forEach(function (id) { var el = document.getElementById(id); if (el) tbody.appendChild(el); });
    if (m.empty !== undefined && tbody.children.length === 0) tbody.innerHTML = m.empty;
    body.setAttribute('data-updates', String(Number(body.getAttribute('data-updates') || 0) + 1));
  });
  es.addEventListener('problem', function (e) {
    var box = document.getElementById('live-problem');
    if (box) box.textContent = JSON.parse(e.data).message;
  });
  es.addEventListener('log', function (e) {
    var box = document.getElementById('log-lines');
    if (!box) return;
    var stick = box.scrollTop + box.clientHeight >= box.scrollHeight - 20;
    var empty = box.querySelector('.log-empty');
    if (empty) empty.remove();
    JSON.parse(e.data).forEach(function (entry) {
      var line = document.createElement('div');
      line.className = 'log-line ' + entry.kind;
      line.setAttribute('data-log-id', String(entry.id));
      var t = document.createElement('span');
      t.className = 'log-time';
      t.textContent = String(entry.time).slice(11, 23);
      var src = document.createElement('span');
      src.className = 'log-src';
      src.textContent = entry.appId || 'uart';
      var msg = document.createElement('span');
      msg.className = 'log-msg';
      msg.textContent = entry.message;
      line.appendChild(t);
      line.appendChild(src);
      line.appendChild(msg);
      box.appendChild(line);
    });
    while (box.children.length > 1000) box.removeChild(box.firstChild);
    if (stick) box.scrollTop = box.scrollHeight;
  });
})();
`;
