// The place map: Leaflet (from unpkg) draws it when it loaded; otherwise the page keeps the
// plain coordinates it always shows. No inline script, so the Content-Security-Policy can
// forbid them.
(function () {
  "use strict";
  var el = document.getElementById("map");
  if (!el || !window.L) { return; }
  var lat = parseFloat(el.dataset.lat), lon = parseFloat(el.dataset.lon);
  if (isNaN(lat) || isNaN(lon)) { return; }
  el.hidden = false;
  var map = window.L.map(el).setView([lat, lon], 6);
  window.L.tileLayer("https://tile.openstreetmap.org/{z}/{x}/{y}.png", {
    maxZoom: 18,
    attribution: "&copy; OpenStreetMap contributors"
  }).addTo(map);
  window.L.marker([lat, lon]).addTo(map).bindPopup(document.createTextNode(el.dataset.label || ""));
}());
