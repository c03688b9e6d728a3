// Shared by every page: the API helper, who is signed in, the role-aware navigation.
"use strict";
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, c => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
const sev = (s) => `<span class="sev ${esc(s)}">${esc(s)}</span>`;
const statusPill = (s) => `<span class="status">${esc(String(s ?? "").replace("_", " "))}</span>`;
let ME = null;

class ApiError extends Error {
  constructor(status, detail) { super(detail); this.status = status; }
}

async function api(url, options = {}) {
  const opts = {credentials: "same-origin", ...options, headers: {...(options.headers || {})}};
  if (opts.body !== undefined && typeof opts.body !== "string") {
    opts.body = JSON.stringify(opts.body);
    opts.headers["Content-Type"] = "application/json";
  }
  if (opts.method && opts.method !== "GET" && ME && ME.csrf_token) opts.headers["X-CSRF-Token"] = ME.csrf_token;
  const res = await fetch(url, opts);
  if (res.status === 401) {
    location.href = "/signin?next=" + encodeURIComponent(location.pathname + location.search);
    throw new ApiError(401, "signed out");
  }
  if (!res.ok) {
    let detail = res.statusText;
    try { const body = await res.json(); detail = body.detail || detail; if (body.errors) detail += ": " + body.errors.map(e => `${e.field} ${e.problem}`).join("; "); } catch (e) { /* not JSON */ }
    throw new ApiError(res.status, detail);
  }
  return res;
}
const getJSON = async (url) => (await api(url)).json();
const postJSON = async (url, body) => (await api(url, {method: "POST", body})).json();

const PAGE_TITLES = {"/": "Alerts", "/trends": "Trends", "/submissions": "Submissions"};

async function startPage(current) {
  ME = await getJSON("/v1/me");
  const nav = (ME.pages || []).map(p => `<a href="${p}" class="${p === current ? "on" : ""}">${esc(PAGE_TITLES[p] || p)}</a>`).join("");
  const header = document.querySelector("header");
  header.innerHTML = `<h1><a href="/">NPS early-warning system</a></h1>
    <nav aria-label="Pages">${nav}<a href="/docs">API</a></nav>
    <span class="who" id="who">${ME.role ? esc(ME.username) + " · " + esc(ME.role_title) : "no accounts configured (open mode)"}</span>
    ${ME.via === "session" ? `<form method="post" action="/signout"><input type="hidden" name="csrf_token" value="${esc(ME.csrf_token)}"><button type="submit">Sign out</button></form>` : ""}`;
  return ME;
}

function mayOpen(page) { return ME && (ME.pages || []).includes(page); }

function showError(el, err) {
  el.innerHTML = `<p class="error" role="alert">${esc(err.status ? `${err.status}: ${err.message}` : err)}</p>`;
}
