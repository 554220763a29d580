/// The status page's inline style and script (hashed into its Content-Security-Policy).
extension StatusPage {
    static let style = #"""
        body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1d2330;background:#f4f6f9}
        header{display:flex;align-items:baseline;gap:1em;padding:.8em 1.5em;background:#1d2330;color:#fff}
        header h1{font-size:1.3em;margin:0}#updated{color:#b8c2d6;font-size:.9em}#updated.stale{color:#ff9b8a}
        main{padding:0 1.5em 2em}h2{font-size:1.05em;margin:1.4em 0 .5em}h3{font-size:1em;margin:1em 0 .3em}
        table{border-collapse:collapse;background:#fff;box-shadow:0 1px 2px rgba(0,0,0,.08);min-width:40%}
        th,td{padding:.35em .7em;border-bottom:1px solid #e3e7ee;text-align:left;white-space:nowrap}
        th{background:#eef1f6;font-weight:600}td.num{text-align:right;font-variant-numeric:tabular-nums}
        .badge{display:inline-block;padding:0 .5em;border-radius:.7em;font-size:.85em;font-weight:600;margin-right:.3em}
        .up{background:#d7f5df;color:#11632b}.down{background:#fde0dc;color:#9b1c0c}
        .drained{background:#e6e0fa;color:#4a2a9b}.suspect{background:#fff1c9;color:#7a5600}
        .warn{color:#9a6700;font-weight:600}.bad{color:#b3200e;font-weight:600}.muted{color:#7a8396}
        .totals{display:flex;gap:1em}.totals div{background:#fff;padding:.6em 1em;box-shadow:0 1px 2px rgba(0,0,0,.08)}
        .totals b{display:block;font-size:1.4em}td .badge{margin-bottom:.15em}
        """#

    static let script = #"""
        "use strict";
        function el(tag, text, cls) {
          const node = document.createElement(tag);
          if (text !== undefined && text !== null) node.textContent = String(text);
          if (cls) node.className = cls;
          return node;
        }
        function table(headings, rows) {
          const t = el("table"), head = el("tr");
          headings.forEach(h => head.appendChild(el("th", h)));
          t.appendChild(head);
          rows.forEach(r => t.appendChild(r));
          return t;
        }
        function row(cells, attrs) {
          const tr = el("tr");
          Object.entries(attrs || {}).forEach(([k, v]) => tr.setAttribute(k, v));
          cells.forEach(c => tr.appendChild(c instanceof Node ? c : el("td", c)));
          return tr;
        }
        function num(value) { return el("td", value, "num"); }
        function badge(text, cls) { return el("span", text, "badge " + cls); }
        function replace(id, node) { const box = document.getElementById(id); box.replaceChildren(node); }
        function shortName(service) { return service.replace(/^microsoft-server-/, ""); }
        function render(state) {
          let totalRate = 0, totalPinned = 0, totalOutstanding = 0, serversUp = 0, serversAll = 0;
          const pools = el("div");
          state.pools.forEach(pool => {
            const rows = pool.servers.map(s => {
              const key = pool.name + "/" + s.name;
              const rate = s.requests_per_second;
              totalRate += rate || 0; totalPinned += s.pinned; totalOutstanding += s.outstanding;
              serversAll += 1; if (s.up && !s.draining) serversUp += 1;
              const state = el("td");
              state.appendChild(s.up ? badge("up", "up") : badge("down", "down"));
              if (s.draining) state.appendChild(badge("drained", "drained"));
              if (s.suspect) state.appendChild(badge("suspect", "suspect"));
              const services = el("td");
              Object.entries(s.services).forEach(([name, svc]) => {
                const b = badge(shortName(name), svc.suspect ? "suspect" : svc.up ? "up" : "down");
                b.title = svc.path + ": " + svc.last;
                b.setAttribute("data-service", name);
                b.setAttribute("data-up", String(svc.up));
                services.appendChild(b);
              });
              const binding = el("td");
              (s.extended_protection || []).forEach(ep => {
                const b = badge(ep.service + " " + ep.host + " " + ep.key_type + ": " + ep.match +
                  (ep.excluded_from_ntlm ? ", out of NTLM" : ""),
                  ep.match === "match" ? "up" : ep.match === "mismatch" ? "down" : "drained");
                b.title = "front " + ep.front_sha256 + "\npresented " + (s.presented_sha256 || "none yet");
                b.setAttribute("data-ep-match", ep.match);
                binding.appendChild(b);
              });
              if (!binding.firstChild) binding.textContent = "–";
              const cells = [el("td", s.name), el("td", s.address), num(s.weight), state, services, binding,
                num(s.outstanding), num(s.idle), num(s.pinned), num(rate === null ? "–" : rate.toFixed(1))];
              return row(cells, {"id": "server-" + key, "data-up": String(s.up), "data-draining": String(s.draining)});
            });
            pools.appendChild(el("h3", pool.name + " (" + pool.balance + ", max " + pool.max_pinned_per_server + " pinned per server)"));
            pools.appendChild(table(["server", "address", "weight", "state", "health per service", "Extended Protection",
              "in flight", "idle", "pinned", "req/s"], rows));
          });
          replace("pools", pools);
          const totals = el("div", null, "totals");
          [["servers up", serversUp + " / " + serversAll], ["requests/s", totalRate.toFixed(1)],
           ["in flight", totalOutstanding], ["pinned NTLM", totalPinned]].forEach(([label, value]) => {
            const box = el("div"); box.appendChild(el("b", value)); box.appendChild(el("span", label, "muted"));
            totals.appendChild(box);
          });
          replace("totals", totals);
          const listeners = (state.listeners || []).map(l => row([l.name, l.address,
            l.kind === "tls" ? "TLS" + (l.http2 ? " (h2, http/1.1)" : " (http/1.1)") : "HTTP → HTTPS redirect"]));
          replace("listeners", table(["listener", "address", "kind"], listeners));
          const certificates = [];
          (state.listeners || []).forEach(l => (l.certificates || []).forEach(c => {
            const days = el("td", c.days_left, "num" + (c.days_left < 0 ? " bad" : c.days_left < 30 ? " warn" : ""));
            certificates.push(row([l.name, c.subject, c.names.join(", "), c.key, c.not_after.slice(0, 10), days,
              c.default ? "default" : ""], {"data-days-left": String(c.days_left)}));
          }));
          replace("certificates", table(["listener", "subject", "names", "key", "expires", "days left", ""], certificates));
        }
        async function refresh() {
          const updated = document.getElementById("updated");
          try {
            const response = await fetch("/state", {headers: {"Accept": "application/json"}, cache: "no-store"});
            if (!response.ok) throw new Error("HTTP " + response.status);
            render(await response.json());
            updated.textContent = "updated " + new Date().toLocaleTimeString();
            updated.className = "";
          } catch (error) {
            updated.textContent = "state unavailable: " + error.message;
            updated.className = "stale";
          }
        }
        refresh();
        setInterval(refresh, 3000);
        """#
}
