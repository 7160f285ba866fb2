/* careslot service worker (scope "/").
   - App shell and static files: cache-first under a versioned cache (a release drops the old).
   - Public reference data (/api/departments, /api/doctors): network-first, saved copy offline.
   - A signed-in user's pages and API answers: network-first, kept ONLY in that user's own
     cache ("careslot-user-<id>"), which sign-out and a change of user delete.
   - Nothing marked no-store is ever stored; only GETs are handled, so a booking (POST) is
     never cached and never replayed by this worker. */
"use strict";

const RELEASE = "__RELEASE__";
const SHELL = `careslot-shell-${RELEASE}`;
const PUBLIC = `careslot-public-${RELEASE}`;
const USER_PREFIX = "careslot-user-";
const SHELL_URLS = ["/offline", "__SHELL__"];

self.addEventListener("install", (event) => {
  // Where the browser supports static routes, versioned static files come straight from
  // the shell cache without even starting this worker (a miss still goes to the network).
  if (event.addRoutes && typeof URLPattern !== "undefined") {
    event.addRoutes([{ condition: { urlPattern: new URLPattern({ pathname: "/static/*" }) },
      source: { cacheName: SHELL } }]).catch(() => {});
  }
  event.waitUntil(caches.open(SHELL).then((cache) => cache.addAll(SHELL_URLS)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    const names = await caches.keys();
    await Promise.all(names
      .filter((n) => (n.startsWith("careslot-shell-") && n !== SHELL) || (n.startsWith("careslot-public-") && n !== PUBLIC))
      .map((n) => caches.delete(n)));
    // The page request starts while the worker boots, instead of after.
    if (self.registration.navigationPreload) await self.registration.navigationPreload.enable();
    await self.clients.claim();
  })());
});

const userCacheName = async () => (await caches.keys()).find((n) => n.startsWith(USER_PREFIX)) || null;

const setUser = async (id) => {
  const keep = id ? `${USER_PREFIX}${id}` : null;
  const names = await caches.keys();
  await Promise.all(names.filter((n) => n.startsWith(USER_PREFIX) && n !== keep).map((n) => caches.delete(n)));
  if (keep) await caches.open(keep);
};

// Pages this worker answered from a saved copy, so each can say "offline, saved data".
const savedClients = new Set();

self.addEventListener("message", (event) => {
  const data = event.data || {};
  if (data.type === "was-saved" && event.source && savedClients.delete(event.source.id)) {
    event.source.postMessage({ type: "saved-copy" });
  }
  if (data.type === "user") event.waitUntil(setUser(data.id ? String(data.id) : null));
  if (data.type === "logout") event.waitUntil(setUser(null));
});

const storable = (response) => {
  if (!response || !response.ok || response.type !== "basic") return false;
  const cc = (response.headers.get("cache-control") || "").toLowerCase();
  return !cc.includes("no-store");
};

const networkFirst = async (request, cacheFor, preload, clientId) => {
  try {
    const response = (preload && (await preload)) || (await fetch(request));
    const name = await cacheFor(response);
    if (name && storable(response)) {
      const copy = response.clone();
      caches.open(name).then((cache) => cache.put(request, copy));
    }
    return response;
  } catch (error) {
    const user = await userCacheName();
    for (const name of [user, PUBLIC, SHELL]) {
      if (!name) continue;
      const hit = await (await caches.open(name)).match(request);
      if (hit) {
        if (clientId) savedClients.add(clientId);
        return hit;
      }
    }
    if (request.mode === "navigate") {
      const offline = await (await caches.open(SHELL)).match("/offline");
      if (offline) return offline;
    }
    throw error;
  }
};

const cacheFirst = async (request) => {
  const cache = await caches.open(SHELL);
  const hit = await cache.match(request);
  if (hit) return hit;
  const response = await fetch(request);
  if (storable(response)) cache.put(request, response.clone());
  return response;
};

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return; // bookings and every other write go straight out
  const url = new URL(request.url);
  if (url.origin !== self.location.origin || url.pathname === "/sw.js") return;

  if (url.pathname.startsWith("/static/")) {
    event.respondWith(cacheFirst(request));
  } else if (url.pathname === "/api/departments" || url.pathname === "/api/doctors") {
    event.respondWith(networkFirst(request, async () => PUBLIC));
  } else if (url.pathname.startsWith("/api/")) {
    // Per-user answers (the cookie decides whose) go only to that user's cache.
    if (url.pathname.startsWith("/api/auth/") || url.pathname === "/api/slots") return;
    event.respondWith(networkFirst(request, () => userCacheName()));
  } else if (request.mode === "navigate") {
    event.respondWith(networkFirst(request, async (response) => {
      const scope = response.headers.get("careslot-scope");
      if (scope === "user") return userCacheName();
      return scope === "public" && url.pathname !== "/" ? PUBLIC : null;
    }, event.preloadResponse, event.resultingClientId));
  }
});
