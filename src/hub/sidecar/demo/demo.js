"use strict";
// The access-history page: the ticket comes in the URL's fragment after a VNeID login;
// the history is read through the demo portal's back end; each row's inclusion proof is
// checked here, with WebCrypto, against its signed checkpoint's root.

const OPERATIONS = {
  lookup: "Tra cứu", verify: "Đối chiếu", authenticate: "Đăng nhập", history: "Xem nhật ký",
};
const OUTCOMES = {
  ok: "Thành công", denied: "Bị từ chối", invalid: "Yêu cầu sai",
  not_found: "Không tìm thấy", failed: "Lỗi",
};
const ERRORS = {
  login: "Đăng nhập không thành công. Vui lòng thử lại.",
  level: "Cần đăng nhập VNeID mức 2 để xem nhật ký.",
  ticket: "Phiên xem nhật ký đã hết hạn. Vui lòng đăng nhập lại.",
};
const COLOURS = ["#b3261e", "#1f6fb2", "#1b7f3b", "#a15c00", "#6a3d9a", "#00838f", "#5d4037"];

function bytes(hex) {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.substr(i * 2, 2), 16);
  return out;
}

async function nodeHash(left, right) {
  const data = new Uint8Array(1 + left.length + right.length);
  data[0] = 1; // RFC 6962: an interior node is H(0x01 || left || right)
  data.set(left, 1);
  data.set(right, 1 + left.length);
  return new Uint8Array(await crypto.subtle.digest("SHA-256", data));
}

// RFC 9162, 2.1.3.2; indices may pass 2^32, so no bitwise operators.
async function verifyInclusion(proof) {
  if (proof.root !== proof.checkpoint.root || proof.tree_size !== proof.checkpoint.size) return false;
  if (proof.index >= proof.tree_size) return false;
  let fn = proof.index, sn = proof.tree_size - 1, r = bytes(proof.leaf_hash);
  for (const step of proof.proof) {
    const p = bytes(step);
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      r = await nodeHash(p, r);
      while (fn % 2 === 0 && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
    } else {
      r = await nodeHash(r, p);
    }
    fn = Math.floor(fn / 2); sn = Math.floor(sn / 2);
  }
  const root = bytes(proof.root);
  return sn === 0 && r.length === root.length && r.every((b, i) => b === root[i]);
}

function cell(row, text, className) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  row.appendChild(td);
  return td;
}

function when(iso) {
  return new Date(iso).toLocaleString("vi-VN", { timeZone: "Asia/Ho_Chi_Minh" });
}

function month(iso) {
  return new Date(iso).toLocaleDateString("en-CA", { timeZone: "Asia/Ho_Chi_Minh" }).slice(0, 7);
}

function chart(items) {
  const months = [...new Set(items.map((i) => month(i.time)))].sort();
  const agencies = [...new Set(items.map((i) => i.agency))];
  const counts = {};
  for (const i of items) {
    const key = month(i.time) + "|" + i.agency;
    counts[key] = (counts[key] || 0) + 1;
  }
  const highest = Math.max(1, ...Object.values(counts));
  const bar = 22, gap = 14, height = 180, left = 40, legend = 20 * agencies.length + 10;
  const width = left + months.length * (agencies.length * bar + gap) + gap;
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("width", Math.max(width, 360));
  svg.setAttribute("height", height + 40 + legend);
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", "Số lần truy cập theo tháng và cơ quan");
  const add = (name, attributes, text) => {
    const el = document.createElementNS(ns, name);
    for (const [k, v] of Object.entries(attributes)) el.setAttribute(k, v);
    if (text !== undefined) el.textContent = text;
    svg.appendChild(el);
    return el;
  };
  add("line", { x1: left, y1: 10, x2: left, y2: height + 10, stroke: "#888" });
  add("text", { x: 4, y: 18, "font-size": 11 }, String(highest));
  months.forEach((m, mi) => {
    const x0 = left + gap + mi * (agencies.length * bar + gap);
    agencies.forEach((a, ai) => {
      const n = counts[m + "|" + a] || 0;
      const h = (n / highest) * height;
      const rect = add("rect", {
        x: x0 + ai * bar, y: height + 10 - h, width: bar - 3, height: h,
        fill: COLOURS[ai % COLOURS.length], "data-month": m, "data-agency": a, "data-count": n,
      });
      rect.appendChild(Object.assign(document.createElementNS(ns, "title"), { textContent: `${a}, ${m}: ${n}` }));
    });
    add("text", { x: x0, y: height + 26, "font-size": 11 }, m);
  });
  agencies.forEach((a, ai) => {
    const y = height + 40 + ai * 20;
    add("rect", { x: left, y: y, width: 12, height: 12, fill: COLOURS[ai % COLOURS.length] });
    add("text", { x: left + 18, y: y + 11, "font-size": 12 }, a);
  });
  document.getElementById("chart").replaceChildren(svg);
}

async function show(ticket) {
  const answer = await fetch("/demo/accesses?proofs=true", { headers: { "X-Access-Ticket": ticket } });
  if (!answer.ok) {
    sessionStorage.removeItem("ticket");
    return fail("ticket");
  }
  const found = await answer.json();
  document.getElementById("login").hidden = true;
  document.getElementById("history").hidden = false;
  document.getElementById("summary").textContent =
    `Có ${found.total} lượt truy cập dữ liệu của bạn (kể cả lượt xem này).`;
  chart(found.items);
  const rows = document.getElementById("rows");
  rows.replaceChildren();
  const checks = found.items.map(async (item) => {
    const row = document.createElement("tr");
    row.dataset.auditId = item.audit_id;
    if (item.by_you) row.className = "mine";
    cell(row, when(item.time));
    cell(row, item.by_you ? `Bạn (qua ${item.agency})` : item.agency, "agency");
    cell(row, item.procedure_name || item.procedure || "—");
    cell(row, item.dossier || "—");
    cell(row, item.source_title || item.source);
    cell(row, OPERATIONS[item.operation] || item.operation, "operation");
    cell(row, item.fields.map((f) => f.label).join(", ") || "—");
    cell(row, OUTCOMES[item.outcome] || item.outcome);
    const verdict = cell(row, "Đang kiểm chứng…", "verdict");
    rows.appendChild(row);
    const ok = item.proof ? await verifyInclusion(item.proof) : false;
    verdict.textContent = ok ? "Đã kiểm chứng" : "Không kiểm chứng được";
    verdict.className = "verdict " + (ok ? "verified" : "failed");
  });
  await Promise.all(checks);
  document.body.dataset.state = "done";
}

function fail(reason) {
  const error = document.getElementById("error");
  error.textContent = ERRORS[reason] || ERRORS.login;
  error.hidden = false;
  document.body.dataset.state = "error";
}

async function main() {
  const fragment = new URLSearchParams(location.hash.slice(1));
  if (fragment.has("ticket")) {
    sessionStorage.setItem("ticket", fragment.get("ticket"));
    history.replaceState(null, "", location.pathname);
  } else if (fragment.has("error")) {
    history.replaceState(null, "", location.pathname);
    return fail(fragment.get("error"));
  }
  const ticket = sessionStorage.getItem("ticket");
  if (ticket) await show(ticket);
  else document.body.dataset.state = "ready";
}

main();
