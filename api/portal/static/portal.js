// The portal's only script of its own (CSP: no inline script). Data comes in
// <script type="application/json"> blocks, which the browser never executes.
"use strict";
(function () {
  function readJson(id) {
    var node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : null;
  }

  function drawMaturities() {
    var target = document.getElementById("maturity-chart");
    var days = readJson("maturity-data");
    var values = readJson("maturity-values");
    if (!target || !days || !values || typeof echarts === "undefined") return;
    // value held per maturity day, summed in minor units (no floating-point money)
    var byDay = {};
    days.forEach(function (day, i) {
      var parts = values[i].split(".");
      var cents = parseInt(parts[0], 10) * 100 + parseInt((parts[1] || "0").padEnd(2, "0"), 10);
      byDay[day] = (byDay[day] || 0) + cents;
    });
    var sorted = Object.keys(byDay).sort();
    var chart = echarts.init(target, null, { renderer: "svg" });
    chart.setOption({
      animation: false,
      grid: { left: 80, right: 16, top: 16, bottom: 32 },
      xAxis: { type: "category", data: sorted },
      yAxis: { type: "value" },
      series: [{ type: "bar", data: sorted.map(function (d) { return byDay[d] / 100; }) }],
    });
    // follow the container's width (a phone turned, a window resized)
    new ResizeObserver(function () { chart.resize(); }).observe(target);
  }

  // a root's lineage down every tier: each node "#id holder", its value beneath
  function drawLineage() {
    var target = document.getElementById("lineage-chart");
    var tree = readJson("lineage-data");
    if (!target || !tree || typeof echarts === "undefined") return;
    function toNode(node) {
      return {
        name: node.name + "\n" + node.value,
        children: node.children.map(toNode),
      };
    }
    var depth = 0;
    (function measure(node, level) {
      depth = Math.max(depth, level);
      node.children.forEach(function (child) { measure(child, level + 1); });
    })(tree, 1);
    target.style.height = Math.max(240, depth * 120) + "px";
    var chart = echarts.init(target, null, { renderer: "svg" });
    chart.setOption({
      animation: false,
      series: [{
        type: "tree",
        data: [toNode(tree)],
        orient: "TB",
        top: 56, bottom: 48, left: 16, right: 16,  // room for the root's two-line label
        initialTreeDepth: -1,
        symbolSize: 10,
        // names are cut short in the drawing; the list beneath has them whole
        label: { position: "top", fontSize: 11, width: 120, overflow: "truncate" },
        leaves: { label: { position: "bottom" } },
      }],
    });
    new ResizeObserver(function () { chart.resize(); }).observe(target);
  }

  // a list the person is filling a form in (focus inside, or a field changed) is left
  // as it is: swapping it would throw their input away
  function beingFilled(region) {
    if (region.contains(document.activeElement) && document.activeElement !== document.body) {
      return true;
    }
    return Array.prototype.some.call(region.querySelectorAll("input, textarea, select"),
      function (field) {
        if (field.type === "hidden") return false;
        if (field.tagName === "SELECT") {
          return Array.prototype.some.call(field.options, function (o) {
            return o.selected !== o.defaultSelected;
          });
        }
        return field.value !== field.defaultValue;
      });
  }

  // pages that show ledger state follow the member's event stream (main[data-live]): when
  // something happens, the page is fetched again and its data-live-region lists swapped
  function followLedger() {
    var main = document.getElementById("main");
    var stream = main && main.getAttribute("data-live");
    if (!stream || typeof EventSource === "undefined") return;
    var status = document.createElement("p");
    status.id = "live-status";
    status.className = "live";
    status.setAttribute("aria-live", "polite");  // not role=status: a page has its own
    main.insertBefore(status, main.firstChild);
    var queued = null;
    function refresh() {
      queued = null;
      fetch(location.pathname + location.search, { credentials: "same-origin" })
        .then(function (answer) {
          if (!answer.ok || answer.redirected) throw new Error("HTTP " + answer.status);
          return answer.text();
        })
        .then(function (html) {
          var fresh = new DOMParser().parseFromString(html, "text/html");
          document.querySelectorAll("[data-live-region]").forEach(function (old) {
            var now = fresh.getElementById(old.id);
            if (now && !beingFilled(old)) old.replaceWith(document.importNode(now, true));
          });
          drawMaturities();
          status.textContent = main.getAttribute("data-live-updated") + " " +
            new Date().toLocaleTimeString();
        })
        .catch(function () { status.textContent = main.getAttribute("data-live-lost"); });
    }
    var source = new EventSource(stream);
    source.onerror = function () {
      if (source.readyState === EventSource.CLOSED) {
        status.textContent = main.getAttribute("data-live-lost");
      }
    };
    // a burst of events (one block holds many) is one fetch
    source.onmessage = function () { if (!queued) queued = setTimeout(refresh, 300); };
  }

  document.addEventListener("DOMContentLoaded", drawMaturities);
  document.addEventListener("DOMContentLoaded", drawLineage);
  document.addEventListener("DOMContentLoaded", followLedger);
})();
