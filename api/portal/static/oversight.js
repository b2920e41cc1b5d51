// The oversight pages' script (risk dashboard): charts drawn from
// <script type="application/json"> blocks and alerts as they happen, from the portal's
// relay of the API's event stream. A file the node serves: the CSP allows no inline script.
"use strict";
(function () {
  function readJson(id) {
    var node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : null;
  }

  function chartIn(target, option) {
    var chart = echarts.init(target, null, { renderer: "svg" });
    chart.setOption(option);
    new ResizeObserver(function () { chart.resize(); }).observe(target);
  }

  // decimal strings to numbers only for drawing: the tables show the exact amounts
  function drawn(values) { return values.map(function (v) { return Number(v); }); }

  function drawExposure() {
    var target = document.getElementById("exposure-chart");
    var data = readJson("exposure-data");
    if (!target || !data || typeof echarts === "undefined") return;
    var keys = ["outstanding", "credit_limit", "credit_used"];
    chartIn(target, {
      animation: false,
      legend: { data: keys.map(function (k) { return data.labels[k]; }), bottom: 0 },
      grid: { left: 90, right: 16, top: 16, bottom: 56 },
      tooltip: { trigger: "axis" },
      xAxis: { type: "category", data: data.names, axisLabel: { width: 110, overflow: "truncate" } },
      yAxis: { type: "value" },
      series: keys.map(function (k) {
        return { name: data.labels[k], type: "bar", data: drawn(data.series[k]) };
      }),
    });
  }

  function drawAging() {
    var target = document.getElementById("aging-chart");
    var data = readJson("aging-data");
    if (!target || !data || typeof echarts === "undefined") return;
    chartIn(target, {
      animation: false,
      grid: { left: 90, right: 16, top: 16, bottom: 48 },
      tooltip: { trigger: "axis" },
      xAxis: { type: "category", data: data.names, axisLabel: { interval: 0, width: 80, overflow: "break" } },
      yAxis: { type: "value" },
      series: [{ type: "bar", data: drawn(data.values) }],
    });
  }

  function cell(row, label, text) {
    var td = document.createElement("td");
    td.setAttribute("data-label", label);
    td.textContent = text;  // text, never markup: an alert's subject comes from the ledger
    row.appendChild(td);
  }

  // new alerts at the top of the table, as the API streams them to this member
  function followAlerts() {
    var live = readJson("alert-stream");
    var rows = document.getElementById("alert-rows");
    var status = document.getElementById("alert-live");
    if (!live || !rows || !status || typeof EventSource === "undefined") return;
    var headings = Array.prototype.map.call(
      document.querySelectorAll("#alerts thead th"), function (th) { return th.textContent; });
    var source = new EventSource(live.stream);
    source.onopen = function () { status.textContent = live.connected; };
    source.onerror = function () { status.textContent = live.lost; };
    source.onmessage = function (message) {
      var event = JSON.parse(message.data);
      if (event.name !== "RiskAlert") return;
      var alert = event.args;
      if (document.querySelector('#alert-rows tr[data-alert="' + Number(alert.id) + '"]')) return;
      var row = document.createElement("tr");
      row.setAttribute("data-alert", String(alert.id));
      row.className = "fresh severity-" + (alert.severity === "high" ? "high" : "medium");
      cell(row, headings[0], alert.created_at);
      cell(row, headings[1], live.kinds[alert.kind] || alert.kind);
      cell(row, headings[2], live.severities[alert.severity] || alert.severity);
      cell(row, headings[3], alert.member_id ? (live.names[String(alert.member_id)] || "#" + alert.member_id) : "—");
      cell(row, headings[4], alert.subject);
      rows.insertBefore(row, rows.firstChild);
      var none = document.getElementById("no-alerts");
      if (none) none.remove();
      status.textContent = live["new"].replace("{kind}", live.kinds[alert.kind] || alert.kind);
    };
  }

  document.addEventListener("DOMContentLoaded", drawExposure);
  document.addEventListener("DOMContentLoaded", drawAging);
  document.addEventListener("DOMContentLoaded", followAlerts);
})();
