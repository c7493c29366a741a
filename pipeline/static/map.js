// mistpipe's live floor map. Reads only the query API of the worker that served it; no build step.
//   GET /v1/sites, /v1/maps?site_id=         what to pick from
//   GET /v1/maps/{id}                         the map, its zones (pixels), their occupancy and visits
//   GET /v1/maps/{id}/locations               clients and assets on it
//   GET /v1/rssi                              beacons and their strongest AP
// With MISTPIPE_QUERY_TOKEN set, give the token once: in the dialog, or as #token=... in the URL.
"use strict";

(() => {
  const SVG = "http://www.w3.org/2000/svg";
  const POLL_MS = 1000; // the map, zones and dots
  const RSSI_EVERY = 2; // polls: beacons every 2 s
  const STALE_S = 30; // a dot not located for this long fades
  const PALETTE = ["#2563eb", "#db2777", "#059669", "#d97706", "#7c3aed", "#0891b2", "#dc2626", "#4d7c0f"];

  const $ = (selector) => document.querySelector(selector);
  const hash = new URLSearchParams(location.hash.slice(1));
  if (hash.has("token")) {
    sessionStorage.setItem("mistpipe-token", hash.get("token"));
    hash.delete("token");
    history.replaceState(null, "", `${location.pathname}${location.search}${hash.size ? "#" + hash : ""}`);
  }
  let token = sessionStorage.getItem("mistpipe-token");

  const state = {
    sites: [],
    siteId: hash.get("site"),
    mapId: hash.get("map"),
    map: null, // the map as /v1/maps/{id} last answered
    drawn: null, // id of the map whose geometry is drawn
    colors: new Map(), // zone id -> colour
    typeOf: new Map(), // located MAC -> type, for the beacon table
    polls: 0,
  };

  class Unauthorized extends Error {}

  async function api(path) {
    const headers = token ? { Authorization: `Bearer ${token}` } : {};
    const response = await fetch(path, { headers, cache: "no-store" });
    if (response.status === 401) throw new Unauthorized("the query API asks for a token");
    if (!response.ok) {
      let reason = response.statusText;
      try {
        reason = (await response.json()).error || reason;
      } catch (_) {
        /* not JSON */
      }
      throw new Error(`${path}: ${response.status} ${reason}`);
    }
    return response.json();
  }

  function el(name, attrs = {}, parent = null) {
    const node = document.createElementNS(SVG, name);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    if (parent) parent.appendChild(node);
    return node;
  }

  function td(row, text, className) {
    const cell = row.insertCell();
    cell.textContent = text;
    if (className) cell.className = className;
    return cell;
  }

  function status(text, kind) {
    const node = $("#status");
    node.textContent = text;
    node.className = `status ${kind}`;
  }

  function askToken() {
    const dialog = $("#token-dialog");
    if (!dialog.open) dialog.showModal();
  }

  $("#token-form").addEventListener("submit", () => {
    token = $("#token").value.trim();
    sessionStorage.setItem("mistpipe-token", token);
    start();
  });

  function remember() {
    const next = new URLSearchParams();
    if (state.siteId) next.set("site", state.siteId);
    if (state.mapId) next.set("map", state.mapId);
    history.replaceState(null, "", `${location.pathname}${location.search}#${next}`);
  }

  // -- choosing a site and a map -----------------------------------------------------------------------

  function fill(select, items, chosen) {
    select.replaceChildren(
      ...items.map((item) => {
        const option = document.createElement("option");
        option.value = item.id;
        option.textContent = item.name || item.id;
        option.selected = item.id === chosen;
        return option;
      }),
    );
  }

  async function loadSites() {
    state.sites = (await api("/v1/sites")).sites;
    if (!state.sites.some((s) => s.id === state.siteId)) {
      state.siteId = (state.sites.find((s) => s.maps.length) || state.sites[0] || {}).id || null;
    }
    fill($("#site"), state.sites, state.siteId);
    await loadMaps();
  }

  async function loadMaps() {
    const maps = state.siteId ? (await api(`/v1/maps?site_id=${encodeURIComponent(state.siteId)}`)).maps : [];
    if (!maps.some((m) => m.id === state.mapId)) state.mapId = maps.length ? maps[0].id : null;
    fill($("#map"), maps, state.mapId);
    state.drawn = null;
    remember();
  }

  $("#site").addEventListener("change", async (e) => {
    state.siteId = e.target.value;
    state.mapId = null;
    await loadMaps();
  });
  $("#map").addEventListener("change", (e) => {
    state.mapId = e.target.value;
    state.drawn = null;
    remember();
  });

  // -- drawing -------------------------------------------------------------------------------------------

  function drawMap(map) {
    const svg = $("#plan");
    svg.replaceChildren();
    const width = map.width || (map.width_m || 30) * (map.ppm || 1);
    const height = map.height || (map.height_m || 30) * (map.ppm || 1);
    const pad = 40;
    svg.setAttribute("viewBox", `${-pad} ${-pad} ${width + 2 * pad} ${height + 2 * pad}`);
    el("rect", { class: "outline", x: 0, y: 0, width, height }, svg);
    if (map.url && /^https?:/.test(map.url)) {
      // The floor plan image, when its URL is reachable; else the outline alone, drawn to scale.
      const image = el("image", { href: map.url, x: 0, y: 0, width, height, preserveAspectRatio: "none" }, svg);
      image.addEventListener("error", () => image.remove());
    }
    const grid = el("g", { class: "grids" }, svg);
    const step = map.ppm ? 5 * map.ppm : 0; // every 5 m
    if (step) {
      for (let x = step; x < width; x += step) el("line", { class: "grid", x1: x, y1: 0, x2: x, y2: height }, grid);
      for (let y = step; y < height; y += step) el("line", { class: "grid", x1: 0, y1: y, x2: width, y2: y }, grid);
      el("line", { class: "scale", x1: 0, y1: height + 22, x2: step, y2: height + 22 }, svg);
      el("text", { class: "scale-label", x: step + 10, y: height + 30 }, svg).textContent = "5 m";
      const size = `${(map.width_m || width / map.ppm).toFixed(1)} m × ${(map.height_m || height / map.ppm).toFixed(1)} m`;
      const label = el("text", { class: "axis-label", x: width, y: height + 30, "text-anchor": "end" }, svg);
      label.textContent = `${map.name || map.id} · ${size} · ${map.ppm} px/m`;
    }
    const zones = el("g", { id: "zones-layer" }, svg);
    map.zones.forEach((zone, i) => {
      const color = PALETTE[i % PALETTE.length];
      state.colors.set(zone.id, color);
      const g = el("g", { class: "zone", "data-zone-id": zone.id }, zones);
      const points = zone.vertices.map((v) => `${v.x},${v.y}`).join(" ");
      el("polygon", { points, fill: color, stroke: color }, g);
      const cx = zone.vertices.reduce((s, v) => s + v.x, 0) / zone.vertices.length;
      const top = Math.min(...zone.vertices.map((v) => v.y));
      el("text", { class: "zone-name", x: cx, y: top + 34 }, g).textContent = zone.name || zone.id;
      el("circle", { class: "badge", cx, cy: top + 70, r: 22, fill: color }, g);
      el("text", { class: "zone-count", x: cx, y: top + 71 }, g).textContent = "0";
    });
    el("g", { id: "dots-layer" }, svg);
    state.drawn = map.id;
  }

  function updateZones(map) {
    const body = $("#zones tbody");
    const rows = [];
    for (const zone of map.zones) {
      const g = document.querySelector(`g.zone[data-zone-id="${CSS.escape(zone.id)}"]`);
      if (g) {
        g.dataset.count = zone.occupancy;
        g.querySelector(".zone-count").textContent = zone.occupancy;
        g.querySelector("polygon").style.fillOpacity = Math.min(0.14 + 0.08 * zone.occupancy, 0.55);
      }
      const row = document.createElement("tr");
      row.dataset.zoneId = zone.id;
      const name = td(row, zone.name || zone.id);
      const swatch = document.createElement("span");
      swatch.className = "swatch";
      swatch.style.background = state.colors.get(zone.id) || "#999";
      name.prepend(swatch);
      td(row, zone.occupancy, "count").dataset.count = zone.occupancy;
      td(row, zone.visits.visits, "visits");
      const dwell = zone.visits.visits ? zone.visits.dwell_total_s / zone.visits.visits : null;
      td(row, dwell === null ? "–" : `${Math.round(dwell)} s`, "dwell");
      rows.push(row);
    }
    body.replaceChildren(...rows);
    const minutes = map.visit_window_seconds / 60;
    const since = new Date(((map.zones[0] || {}).visits || {}).start * 1000 || Date.now());
    $("#visit-window").textContent =
      `visits: this ${minutes} min window (since ${since.toLocaleTimeString()}), by exit time`;
  }

  function dotShape(g, type) {
    if (type === "asset") el("rect", { class: "mark", x: -11, y: -11, width: 22, height: 22, transform: "rotate(45)" }, g);
    else el("circle", { class: "mark", r: type === "sdk" ? 11 : 12 }, g);
  }

  function updateDots(map, locations) {
    const layer = $("#dots-layer");
    const seen = new Set();
    const counts = { wifi: 0, sdk: 0, asset: 0 };
    const now = Date.now() / 1000;
    for (const loc of locations) {
      const type = ["wifi", "sdk", "asset"].includes(loc.type) ? loc.type : "other";
      const x = loc.x_px ?? loc.x * (map.ppm || 1);
      const y = loc.y_px ?? loc.y * (map.ppm || 1);
      if (x == null || y == null) continue;
      seen.add(loc.key);
      if (type in counts) counts[type] += 1;
      if (loc.key.length === 12) state.typeOf.set(loc.key, type);
      let g = layer.querySelector(`g.dot[data-key="${CSS.escape(loc.key)}"]`);
      if (!g) {
        g = el("g", { class: `dot type-${type}`, "data-key": loc.key, "data-type": type }, layer);
        dotShape(g, type);
        el("title", {}, g);
        g.style.transform = `translate(${x}px, ${y}px)`; // appear in place, then glide
      }
      g.dataset.x = x.toFixed(1);
      g.dataset.y = y.toFixed(1);
      g.style.transform = `translate(${x}px, ${y}px)`;
      g.classList.toggle("stale", now - loc.timestamp > STALE_S);
      const when = new Date(loc.timestamp * 1000).toLocaleTimeString();
      g.querySelector("title").textContent =
        `${type} ${loc.key}\n(${loc.x.toFixed(1)} m, ${loc.y.toFixed(1)} m) at ${when}`;
    }
    for (const g of [...layer.querySelectorAll("g.dot")]) if (!seen.has(g.dataset.key)) g.remove();
    for (const [type, n] of Object.entries(counts)) $(`#legend b[data-type="${type}"]`).textContent = n;
  }

  function updateBeacons(emitters) {
    // A MAC that is located on the map is an asset; the others are beacons or SDK phones (Mist's raw
    // RSSI of a beacon and an SDK scan look alike in a window). Beacons first, then assets.
    const kind = (mac) => (state.typeOf.get(mac) === "asset" ? "asset" : "");
    const rows = emitters
      .filter((e) => e.strongest)
      .sort((a, b) => kind(a.mac).localeCompare(kind(b.mac)) || a.mac.localeCompare(b.mac))
      .map((e) => {
        const row = document.createElement("tr");
        row.dataset.mac = e.mac;
        const cell = td(row, e.mac, "mac");
        if (kind(e.mac)) cell.append(Object.assign(document.createElement("small"), { textContent: " asset" }));
        td(row, e.strongest.ap, "ap");
        td(row, e.strongest.mean.toFixed(0), "rssi");
        td(row, e.aps);
        return row;
      });
    $("#beacons tbody").replaceChildren(...rows);
  }

  // -- the loop ------------------------------------------------------------------------------------------

  let timer = null;

  async function poll() {
    const began = Date.now();
    try {
      if (!state.sites.length) await loadSites();
      if (!state.mapId) {
        status("no map in the reference data yet (mistpipe reference load ...)", "error");
      } else {
        const id = encodeURIComponent(state.mapId);
        const [map, located] = await Promise.all([api(`/v1/maps/${id}`), api(`/v1/maps/${id}/locations`)]);
        if (state.drawn !== map.id) drawMap(map);
        state.map = map;
        updateZones(map);
        updateDots(map, located.locations);
        if (state.polls % RSSI_EVERY === 0) updateBeacons((await api("/v1/rssi")).emitters);
        state.polls += 1;
        document.body.dataset.updates = state.polls;
        document.body.dataset.updatedAt = Date.now();
        const n = located.locations.length;
        status(`live · ${n} on the map · updated ${new Date().toLocaleTimeString()}`, "live");
      }
    } catch (error) {
      if (error instanceof Unauthorized) {
        status("the query API asks for a token", "error");
        askToken();
        return; // start() again once a token is given
      }
      status(`retrying: ${error.message}`, "error");
    }
    timer = setTimeout(poll, Math.max(100, POLL_MS - (Date.now() - began)));
  }

  function start() {
    clearTimeout(timer);
    poll();
  }

  start();
})();
