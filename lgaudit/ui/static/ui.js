// lgaudit ui: open the step a link points at, scroll to the first divergence, copy commands.
(function () {
  "use strict";
  function openTarget() {
    var id = decodeURIComponent(location.hash.slice(1));
    if (!id) return;
    var el = document.getElementById(id);
    if (!el) return;
    if (el.tagName === "DETAILS") el.open = true;
    var parent = el.closest("details");
    while (parent) { parent.open = true; parent = parent.parentElement.closest("details"); }
    el.scrollIntoView({ block: "start" });
  }
  window.addEventListener("hashchange", openTarget);
  document.addEventListener("DOMContentLoaded", function () {
    if (location.hash) { openTarget(); return; }
    var first = document.querySelector("[data-scroll-here]");
    if (first) first.scrollIntoView({ block: "center" });
  });
  document.addEventListener("click", function (ev) {
    var t = ev.target;
    if (t && t.matches && t.matches("[data-toggle-all]")) {
      var open = t.getAttribute("data-toggle-all") === "open";
      document.querySelectorAll("details.step").forEach(function (d) { d.open = open; });
    }
  });
})();
