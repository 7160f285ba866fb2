/* careslot page script: no framework, no build step. The server renders every page with
   its data; this file signs in and out, books, cancels, moves appointments at the desk,
   keeps a small query cache filled by route-based prefetching, registers the service
   worker and reports page timings. The CSP forbids inline script, so everything is here. */
"use strict";

(() => {
  const body = document.body;
  const userId = body.dataset.userId || "";
  const role = body.dataset.role || "";
  const route = body.dataset.route || location.pathname;
  const HOMES = { patient: "/dashboard", staff: "/desk", admin: "/desk", doctor: "/doctor" };
  const $ = (sel, root = document) => root.querySelector(sel);
  const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));

  /* ---------- page timings: FCP, LCP, INP, time to interactive -> beacon ---------- */
  // A page prerendered by the Speculation Rules was loaded before the click that shows it:
  // its work waits for that click (whenShown), and its times count from it, as the person
  // saw them (the web-vitals convention; a page that was not prerendered counts from 0).
  const whenShown = (fn) => {
    if (document.prerendering) document.addEventListener("prerenderingchange", fn, { once: true });
    else fn();
  };
  const navEntry = performance.getEntriesByType("navigation")[0];
  const shown = (t) => Math.max(0, t - ((navEntry && navEntry.activationStart) || 0));
  const timings = { route, fcp: null, lcp: null, tti: null, inp: null };
  window.careslotTimings = timings;
  let lastLongTaskEnd = 0;
  const observe = (type, fn, extra = {}) => {
    try { new PerformanceObserver((list) => list.getEntries().forEach(fn)).observe({ type, buffered: true, ...extra }); }
    catch (_) { /* this browser does not report that entry type */ }
  };
  observe("paint", (e) => {
    if (e.name !== "first-contentful-paint") return;
    timings.fcp = shown(e.startTime);
    if (timings.tti !== null) timings.tti = Math.max(timings.tti, timings.fcp);
  });
  observe("largest-contentful-paint", (e) => { timings.lcp = shown(e.startTime); });
  observe("longtask", (e) => {
    if (document.prerendering) return; // nobody was waiting for it
    lastLongTaskEnd = Math.max(lastLongTaskEnd, shown(e.startTime + e.duration));
    if (timings.tti !== null) timings.tti = Math.max(timings.tti, lastLongTaskEnd);
  });
  observe("event", (e) => {
    if (e.interactionId) timings.inp = Math.max(timings.inp || 0, e.duration);
  }, { durationThreshold: 16 });
  // Two beacons: paint and readiness once the page has settled (a beacon sent while a
  // page controlled by the service worker unloads can be lost), INP when the page is left.
  const beacon = (payload) => {
    const body = JSON.stringify(payload);
    const blob = new Blob([body], { type: "application/json" });
    if (!(navigator.sendBeacon && navigator.sendBeacon("/api/metrics/page-load", blob))) {
      fetch("/api/metrics/page-load", { method: "POST", body, keepalive: true,
        headers: { "Content-Type": "application/json" } }).catch(() => {});
    }
  };
  let loadSent = false;
  let inpSent = false;
  const sendLoad = () => {
    if (loadSent || timings.fcp === null) return;
    loadSent = true;
    beacon({ route, fcp: timings.fcp, lcp: timings.lcp, tti: timings.tti });
  };
  const sendInp = () => {
    sendLoad();
    if (inpSent || timings.inp === null) return;
    inpSent = true;
    beacon({ route, inp: timings.inp });
  };
  const afterLoad = () => setTimeout(sendLoad, 1000);
  whenShown(() => (document.readyState === "complete" ? afterLoad() : addEventListener("load", afterLoad)));
  addEventListener("pagehide", sendInp);
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "hidden") sendInp();
  });

  /* ---------- talking to the API ---------- */
  const api = async (method, url, data, headers = {}) => {
    const init = { method, credentials: "same-origin", headers: { Accept: "application/json", ...headers } };
    if (data !== undefined) {
      init.body = JSON.stringify(data);
      init.headers["Content-Type"] = "application/json";
    }
    let response;
    try { response = await fetch(url, init); }
    catch (_) { showOffline(); return { ok: false, status: 0, data: null, offline: true }; }
    const type = response.headers.get("content-type") || "";
    const json = type.includes("json") ? await response.json().catch(() => null) : null;
    return { ok: response.ok, status: response.status, data: json, headers: response.headers };
  };
  const say = (problem, fallback) => (problem && problem.detail) || fallback;

  /* ---------- the client query cache, with the guide's stale times ---------- */
  const STALE = { departments: 3600e3, userStats: 30e3, appointments: 10e3, calendar: 5e3, realTime: 0 };
  const store = (() => { try { return window.sessionStorage; } catch (_) { return null; } })();
  const QueryCache = {
    memory: new Map(),
    owner: userId || "anon", // whose answers these are; set at sign-in
    storeKey(key) { return `careslot.q.${this.owner}.${key}`; },
    read(key) {
      if (this.memory.has(key)) return this.memory.get(key);
      const raw = store && store.getItem(this.storeKey(key));
      if (!raw) return null;
      try { const entry = JSON.parse(raw); this.memory.set(key, entry); return entry; }
      catch (_) { return null; }
    },
    async get(key, url, staleMs, force = false) {
      const entry = this.read(key);
      if (!force && entry && entry.data !== undefined && Date.now() - entry.at < staleMs) return entry.data;
      if (entry && entry.promise) return entry.promise;
      const promise = api("GET", url).then((r) => {
        if (!r.ok) { this.memory.delete(key); return null; }
        const fresh = { at: Date.now(), data: r.data };
        this.memory.set(key, fresh);
        // Answers marked no-store live only in this page's memory, never in storage.
        const cc = (r.headers && r.headers.get("cache-control")) || "";
        if (store && !cc.includes("no-store")) {
          try { store.setItem(this.storeKey(key), JSON.stringify(fresh)); } catch (_) { /* full */ }
        }
        return r.data;
      });
      this.memory.set(key, { ...(entry || {}), promise });
      return promise;
    },
    clear() {
      this.memory.clear();
      if (!store) return;
      Object.keys(store).filter((k) => k.startsWith("careslot.q.")).forEach((k) => store.removeItem(k));
    },
  };

  /* ---------- route-based prefetching (guide phase 4) ---------- */
  const isoDay = (d) => `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
  const monthOf = () => ($("#month-h") && $("#month-h").dataset.month) || isoDay(new Date()).slice(0, 7);
  const QUERIES = {
    departments: () => ["/api/departments", STALE.departments],
    userProfile: () => ["/api/users/profile", STALE.userStats],
    dashboardStats: (r) => (r === "patient" ? ["/api/dashboard/stats", STALE.userStats] : null),
    upcomingAppointments: () => [`/api/appointments?from=${encodeURIComponent(new Date().toISOString())}&limit=10`, STALE.appointments],
    recentActivity: (r) => (r === "doctor" ? null : ["/api/activity?limit=10", STALE.userStats]),
    availableSlots: () => {
      const from = new Date(); const to = new Date(Date.now() + 6 * 864e5);
      const first = QueryCache.read("departments");
      const dept = first && first.data && first.data[0];
      return dept ? [`/api/slots?departmentId=${dept.id}&from=${isoDay(from)}&to=${isoDay(to)}`, STALE.realTime + 15e3] : null;
    },
    monthlyAppointments: (r) => {
      const doctor = $("#month-h") && $("#month-h").dataset.doctorId;
      if (r !== "patient" && !doctor) return null;
      return [`/api/calendar?month=${monthOf()}${r !== "patient" ? `&doctorId=${doctor}` : ""}`, STALE.calendar];
    },
    doctorSchedules: (r) => {
      const doctor = $("#month-h") && $("#month-h").dataset.doctorId;
      return r === "patient" || !doctor ? null : [`/api/doctors/${doctor}/schedule`, STALE.calendar];
    },
  };
  const PrefetchManager = {
    rules: {
      onLogin: [{ key: "departments", priority: "high" }, { key: "userProfile", priority: "high" },
        { key: "dashboardStats", priority: "medium" }],
      onDashboard: [{ key: "upcomingAppointments", priority: "high" },
        { key: "recentActivity", priority: "medium" }, { key: "availableSlots", priority: "low" }],
      onCalendarView: [{ key: "monthlyAppointments", priority: "high" },
        { key: "doctorSchedules", priority: "medium" }],
    },
    prefetch(key, asRole) {
      const spec = QUERIES[key](asRole);
      return spec ? QueryCache.get(key, spec[0], spec[1]).catch(() => null) : Promise.resolve(null);
    },
    async prefetchForRoute(name, asRole = role) {
      const rules = this.rules[name] || [];
      const high = rules.filter((r) => r.priority === "high").map((r) => this.prefetch(r.key, asRole));
      const later = rules.filter((r) => r.priority !== "high");
      // Medium first, then low, each only when the browser has nothing better to do.
      const idle = window.requestIdleCallback || ((fn) => setTimeout(fn, 50));
      later.sort((a, b) => (a.priority === "medium" ? -1 : 1) - (b.priority === "medium" ? -1 : 1))
        .forEach((r) => idle(() => this.prefetch(r.key, asRole), { timeout: 2000 }));
      await Promise.all(high);
    },
  };
  window.careslotPrefetch = PrefetchManager;
  window.careslotQueries = QueryCache;

  /* ---------- near-instant navigation: Speculation Rules, else hover/focus prefetch ---------- */
  const speculates = HTMLScriptElement.supports && HTMLScriptElement.supports("speculationrules");
  if (!speculates) {
    const done = new Set();
    const warm = (event) => {
      const a = event.target.closest && event.target.closest("a[href]");
      if (!a || a.origin !== location.origin || a.pathname.startsWith("/api/") || done.has(a.href)) return;
      done.add(a.href);
      const link = document.createElement("link");
      link.rel = "prefetch"; link.href = a.href;
      document.head.appendChild(link);
    };
    document.addEventListener("pointerover", warm, { passive: true });
    document.addEventListener("focusin", warm);
  }

  /* ---------- offline banner and the service worker ---------- */
  function showOffline() {
    const banner = $("#offline-banner");
    if (!banner || !banner.hidden) return;
    const saved = new Date(body.dataset.renderedAt || Date.now());
    const hhmm = `${String(saved.getHours()).padStart(2, "0")}:${String(saved.getMinutes()).padStart(2, "0")}`;
    banner.textContent = `Offline, showing saved data from ${hhmm}.`;
    banner.hidden = false;
  }
  addEventListener("offline", showOffline);
  addEventListener("online", () => { const b = $("#offline-banner"); if (b) b.hidden = true; });
  if (navigator.onLine === false) showOffline();

  const dropUserCaches = async (keep) => {
    if (!("caches" in window)) return;
    const names = await caches.keys();
    await Promise.all(names.filter((n) => n.startsWith("careslot-user-") && n !== keep).map((n) => caches.delete(n)));
  };
  const tellWorker = (message) => navigator.serviceWorker && navigator.serviceWorker.ready
    .then((reg) => reg.active && reg.active.postMessage(message)).catch(() => {});
  if ("serviceWorker" in navigator) {
    // The worker says when it answered this page from its saved copy (network down).
    navigator.serviceWorker.addEventListener("message", (event) => {
      if (event.data && event.data.type === "saved-copy") showOffline();
    });
    if (navigator.serviceWorker.controller) navigator.serviceWorker.controller.postMessage({ type: "was-saved" });
    // After the page's first frame: a prerendered page would otherwise register between
    // the click and its paint.
    whenShown(() => requestAnimationFrame(() => setTimeout(() => {
      navigator.serviceWorker.register("/sw.js", { scope: "/" }).then(() => {
        tellWorker({ type: "user", id: userId || null });
      }).catch(() => { /* pages work without it */ });
    })));
  }

  /* ---------- small page helpers ---------- */
  // After a change, pages prefetched before it are stale: drop them (a link that stops
  // matching the speculation rules loses its prefetch) and forget cached queries.
  const afterWrite = () => {
    QueryCache.clear();
    $$("a[href]").forEach((a) => a.relList.add("nofollow"));
  };
  const flash = (text) => {
    const el = $("#flash");
    if (!el) return;
    el.textContent = text; el.hidden = false;
  };
  const busy = (button, on) => {
    if (!button) return;
    button.disabled = on;
    button.setAttribute("aria-busy", on ? "true" : "false");
  };
  const fieldError = (form, text) => {
    const el = $("#form-error", form);
    el.textContent = text; el.hidden = false; el.focus && el.focus();
  };
  $$("[data-color]").forEach((el) => {
    if (/^#[0-9a-fA-F]{3,8}$/.test(el.dataset.color)) el.style.backgroundColor = el.dataset.color;
  });
  const safeNext = (next) => (next && next.startsWith("/") && !next.startsWith("//") && !next.startsWith("/\\") ? next : "");

  /* ---------- sign in, register, sign out ---------- */
  const signedIn = async (form, user) => {
    QueryCache.clear();
    QueryCache.owner = String(user.id);
    await dropUserCaches(`careslot-user-${user.id}`);
    tellWorker({ type: "user", id: user.id });
    // High-priority data before leaving (bounded), the rest on the next page when idle.
    await Promise.race([PrefetchManager.prefetchForRoute("onLogin", user.role),
      new Promise((r) => setTimeout(r, 300))]);
    location.assign(safeNext(form.dataset.next) || HOMES[user.role] || "/");
  };
  const authForm = (id, url, fields, failText) => {
    const form = document.getElementById(id);
    if (!form) return;
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const data = {};
      for (const name of fields) data[name] = form.elements[name].value;
      if (fields.some((f) => !data[f].trim())) { fieldError(form, "Please fill in every field."); return; }
      const button = $("button[type=submit]", form);
      busy(button, true);
      const r = await api("POST", url, data);
      if (r.ok) { await signedIn(form, r.data.user); return; }
      busy(button, false);
      if (r.offline) fieldError(form, "You are offline. Please connect and try again.");
      else if (r.status === 401) fieldError(form, "That email and password do not match an account.");
      else fieldError(form, say(r.data, failText));
    });
  };
  authForm("login-form", "/api/auth/login", ["email", "password"], "Signing in did not work. Please try again.");
  authForm("register-form", "/api/auth/register", ["name", "email", "password"], "The account could not be created.");

  $$("[data-action=sign-out]").forEach((button) => button.addEventListener("click", async () => {
    busy(button, true);
    await api("POST", "/api/auth/logout");
    QueryCache.clear();
    await dropUserCaches(null);
    tellWorker({ type: "logout" });
    location.assign("/login");
  }));

  /* ---------- booking ---------- */
  const bookForm = $("#book-form");
  const renderSlots = (slots) => {
    const list = $("#slots");
    if (!list) return;
    const base = list.dataset.base;
    list.replaceChildren(...(slots.length ? slots.map((s) => {
      const li = document.createElement("li");
      const a = document.createElement("a");
      a.className = "slot";
      a.href = `/book?${base}&start=${encodeURIComponent(s.start)}#step-confirm`;
      const local = new Date(s.start);
      a.textContent = `${String(local.getHours()).padStart(2, "0")}:${String(local.getMinutes()).padStart(2, "0")}`;
      li.appendChild(a);
      return li;
    }) : [Object.assign(document.createElement("li"), { textContent: "No free times left on this day. Please choose another day." })]));
  };
  const slotGone = async (text) => {
    const message = $("#book-message");
    message.textContent = text;
    message.hidden = false;
    const list = $("#slots");
    if (list) {
      const typed = list.dataset.typeId ? `&typeId=${list.dataset.typeId}` : "";
      const r = await api("GET", `/api/slots?doctorId=${list.dataset.doctorId}&date=${list.dataset.date}${typed}`);
      if (r.ok) renderSlots(r.data.slots);
    }
    const confirm = $("#confirm");
    if (confirm) confirm.remove();
    message.focus();
  };
  if (bookForm) {
    bookForm.addEventListener("submit", async (event) => {
      event.preventDefault();
      const button = $("button[type=submit]", bookForm);
      busy(button, true);
      const d = bookForm.dataset;
      let r;
      if (d.reschedule) {
        r = await api("PATCH", `/api/appointments/${d.reschedule}`, { start: d.start });
      } else {
        // One key per confirmed choice: a repeat of this submit can never book twice.
        d.key = d.key || (crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random()}`);
        const payload = { doctorId: Number(d.doctorId), start: d.start, reason: bookForm.elements.reason.value };
        if (d.clientId) payload.clientId = Number(d.clientId);
        if (d.typeId) payload.typeId = Number(d.typeId);
        r = await api("POST", "/api/appointments", payload, { "Idempotency-Key": d.key });
      }
      if (r.ok) {
        afterWrite();
        if (role === "patient") location.assign(`/dashboard?booked=${r.data.id}`);
        else location.assign(`/desk?booked=${r.data.id}`);
        return;
      }
      busy(button, false);
      const code = r.data && r.data.code;
      if (code === "slot_taken" || code === "invalid_slot") {
        await slotGone("Sorry, someone else has just booked that time. Here are the times that are still free.");
        return;
      }
      const message = $("#book-message");
      message.textContent = r.offline
        ? "You are offline, so nothing was booked. Please try again when you are connected."
        : say(r.data, "The booking did not go through. Please try again.");
      message.hidden = false;
      message.focus();
    });
  }

  /* ---------- my appointments: cancel ---------- */
  $$("[data-action=cancel]").forEach((button) => button.addEventListener("click", async () => {
    busy(button, true);
    const r = await api("PATCH", `/api/appointments/${button.dataset.id}`, { status: "cancelled" });
    const row = button.closest("[data-appointment-id]");
    if (r.ok) {
      afterWrite();
      row.dataset.status = "cancelled";
      const status = $("[data-role=status]", row);
      status.textContent = "cancelled"; status.className = "status status-cancelled";
      const when = $(".appt-when", row).textContent;
      $(".appt-actions", row).remove();
      flash(`Cancelled your appointment on ${when}.`);
      $("#flash").focus && $("#main").focus();
    } else {
      busy(button, false);
      flash(say(r.data, "That appointment could not be cancelled."));
    }
  }));

  /* ---------- the waitlist: join on a full day; accept, decline or leave ---------- */
  $$("[data-action=join-waitlist]").forEach((button) => button.addEventListener("click", async () => {
    busy(button, true);
    const d = button.dataset;
    const payload = { doctorId: Number(d.doctorId), from: d.date, to: d.date };
    if (d.typeId) payload.typeId = Number(d.typeId);
    if (d.clientId) payload.clientId = Number(d.clientId);
    const r = await api("POST", "/api/waitlist", payload);
    if (r.ok || (r.data && r.data.code === "waitlist_duplicate")) {
      afterWrite();
      button.replaceWith(Object.assign(document.createElement("span"), {
        className: "hint", textContent: "On the waitlist",
      }));
      flash("You are on the waitlist for that day. When a time frees up, we hold it for you and tell you.");
    } else {
      busy(button, false);
      flash(say(r.data, "You could not join the waitlist. Please try again."));
    }
  }));
  $$("[data-action=accept-offer]").forEach((button) => button.addEventListener("click", async () => {
    busy(button, true);
    // One key per offer on this page: a repeated press never books twice.
    button.dataset.key = button.dataset.key || (crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random()}`);
    const r = await api("POST", `/api/waitlist/${button.dataset.id}/accept`, undefined, { "Idempotency-Key": button.dataset.key });
    if (r.ok) {
      afterWrite();
      location.assign(`/dashboard?booked=${r.data.id}`);
      return;
    }
    busy(button, false);
    flash(say(r.data, "That time could not be booked."));
  }));
  const settleEntry = (button, text) => {
    const row = button.closest("[data-entry-id]");
    const status = $("[data-role=status]", row);
    if (status) { status.textContent = text; status.className = `status status-${text}`; }
    row.dataset.status = text;
    $(".appt-actions", row).remove();
  };
  $$("[data-action=decline-offer]").forEach((button) => button.addEventListener("click", async () => {
    busy(button, true);
    const r = await api("POST", `/api/waitlist/${button.dataset.id}/decline`);
    if (r.ok) { afterWrite(); settleEntry(button, "declined"); flash("You declined the time; it goes to the next patient waiting."); }
    else { busy(button, false); flash(say(r.data, "That offer could not be declined.")); }
  }));
  $$("[data-action=leave-waitlist]").forEach((button) => button.addEventListener("click", async () => {
    busy(button, true);
    const r = await api("DELETE", `/api/waitlist/${button.dataset.id}`);
    if (r.ok) { afterWrite(); settleEntry(button, "removed"); flash("You left the waitlist."); }
    else { busy(button, false); flash(say(r.data, "Leaving the waitlist did not work.")); }
  }));

  /* ---------- the front desk: check in, completed, no-show; time waiting ---------- */
  const NEXT = { scheduled: ["checked_in", "no_show"], confirmed: ["checked_in", "no_show"], checked_in: ["completed", "no_show"] };
  const minutesSince = (iso) => Math.max(0, Math.round((Date.now() - new Date(iso)) / 60000));
  const tickWaiting = () => $$("[data-role=waiting][data-since]").forEach((cell) => {
    cell.textContent = `${minutesSince(cell.dataset.since)} min`;
  });
  tickWaiting();
  if ($("[data-role=waiting]")) setInterval(tickWaiting, 30000);
  $$("[data-action=move]").forEach((button) => button.addEventListener("click", async () => {
    const row = button.closest("[data-appointment-id]");
    busy(button, true);
    const r = await api("PATCH", `/api/appointments/${button.dataset.id}`, { status: button.dataset.target });
    if (!r.ok) { busy(button, false); flash(say(r.data, "That change could not be made.")); return; }
    afterWrite();
    const status = r.data.status;
    row.dataset.status = status;
    const cell = $("[data-role=status]", row);
    cell.textContent = status.replace("_", " "); cell.className = `status status-${status}`;
    const waiting = $("[data-role=waiting]", row);
    if (status === "checked_in") { waiting.dataset.since = r.data.updatedAt; tickWaiting(); }
    else { delete waiting.dataset.since; waiting.textContent = "–"; }
    const allowed = NEXT[status] || [];
    $$("[data-action=move]", row).forEach((b) => {
      b.disabled = !allowed.includes(b.dataset.target);
      b.setAttribute("aria-busy", "false");
    });
    flash(`${$("th", row).textContent}: ${status.replace("_", " ")}.`);
  }));

  /* ---------- dashboard: keep the numbers fresh when the tab comes back ---------- */
  if (route === "/dashboard") {
    document.addEventListener("visibilitychange", async () => {
      if (document.visibilityState !== "visible") return;
      const stats = await QueryCache.get("dashboardStats", "/api/dashboard/stats", STALE.userStats);
      if (!stats || !stats.data) return;
      for (const key of ["upcomingCount", "totalMonthCount", "completedCount"]) {
        const el = $(`[data-stat=${key}]`);
        if (el) el.textContent = stats.data[key];
      }
    });
  }

  /* ---------- route rules run when the page is idle; then we are interactive ---------- */
  const ROUTE_RULES = { "/dashboard": "onDashboard", "/calendar": "onCalendarView" };
  const ready = () => whenShown(() => {
    timings.tti = Math.max(shown(performance.now()), timings.fcp || 0, lastLongTaskEnd);
    if (ROUTE_RULES[route] && userId) {
      (window.requestIdleCallback || setTimeout)(() => PrefetchManager.prefetchForRoute(ROUTE_RULES[route]));
    }
  });
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", ready);
  else ready();
})();
