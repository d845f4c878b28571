// Draws a Chart.js chart above every table marked data-chart, from the table's own numbers,
// so a chart never says anything its table does not. Without JavaScript the tables stand alone.
//   <table data-chart="bar|line" [data-horizontal] [data-stacked] [data-reverse]
//          [data-colors="single"]>
//     <thead> header cells marked data-series (optionally data-stack="name") are plotted
//     <tbody> each row: <th> label, then cells with data-value
(function () {
  "use strict";
  if (typeof window.Chart === "undefined") {
    return;
  }
  var Chart = window.Chart;
  var PALETTE = ["#1f2d44", "#1a56db", "#1f7a4d", "#b7791f", "#616e7c", "#7c3aed"];
  var root = getComputedStyle(document.documentElement);
  Chart.defaults.font.family = root.fontFamily;
  Chart.defaults.color = "#3e4c59";
  Chart.defaults.animation = false;

  function text(cell) {
    return (cell.getAttribute("title") || cell.textContent || "").trim();
  }

  function read(table) {
    var headers = Array.prototype.slice.call(table.tHead.rows[0].cells);
    var series = [];
    headers.forEach(function (cell, index) {
      if (cell.hasAttribute("data-series")) {
        series.push({ index: index, label: text(cell), stack: cell.getAttribute("data-stack") });
      }
    });
    var labels = [];
    var values = series.map(function () { return []; });
    Array.prototype.forEach.call(table.tBodies[0].rows, function (row) {
      labels.push(text(row.cells[0]));
      series.forEach(function (s, n) {
        var cell = row.cells[s.index];
        var value = cell ? parseFloat(cell.getAttribute("data-value")) : NaN;
        values[n].push(isNaN(value) ? 0 : value);
      });
    });
    if (table.hasAttribute("data-reverse")) {
      labels.reverse();
      values.forEach(function (v) { v.reverse(); });
    }
    return { labels: labels, series: series, values: values };
  }

  function draw(table) {
    var kind = table.getAttribute("data-chart") === "line" ? "line" : "bar";
    var horizontal = table.hasAttribute("data-horizontal");
    var stacked = table.hasAttribute("data-stacked");
    var single = table.getAttribute("data-colors") === "single";
    var data = read(table);
    if (data.labels.length === 0 || data.series.length === 0) {
      return;
    }
    var datasets = data.series.map(function (s, n) {
      var colour = PALETTE[n % PALETTE.length];
      return {
        label: s.label,
        data: data.values[n],
        stack: s.stack || undefined,
        backgroundColor: single ? PALETTE[0] : colour,
        borderColor: single ? PALETTE[0] : colour,
        borderWidth: kind === "line" ? 2 : 0,
        pointRadius: kind === "line" && data.labels.length > 24 ? 0 : 3,
        tension: 0.2,
        maxBarThickness: 36,
      };
    });
    var box = document.createElement("div");
    box.className = "chart-canvas";
    if (horizontal) {
      box.style.height = Math.max(160, data.labels.length * 34 * Math.max(1, datasets.length / 2) + 60) + "px";
    }
    var canvas = document.createElement("canvas");
    var caption = table.caption ? table.caption.textContent.trim() : "";
    canvas.setAttribute("role", "img");
    canvas.setAttribute("aria-label", caption);
    box.appendChild(canvas);
    var figure = table.closest("figure") || table.parentNode;
    var title = document.createElement("p");
    title.className = "chart-title";
    title.textContent = caption;
    figure.insertBefore(title, figure.firstChild);
    figure.insertBefore(box, title.nextSibling);
    var valueAxis = { beginAtZero: true, stacked: stacked, ticks: { precision: 0 } };
    var labelAxis = { stacked: stacked, ticks: { autoSkip: !horizontal } };
    new Chart(canvas, {
      type: kind,
      data: { labels: data.labels, datasets: datasets },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        indexAxis: horizontal ? "y" : "x",
        scales: horizontal ? { x: valueAxis, y: labelAxis } : { x: labelAxis, y: valueAxis },
        plugins: {
          legend: { display: datasets.length > 1 && !single, position: "bottom" },
        },
      },
    });
    var details = table.closest("details");
    if (details) {
      details.open = false;  // the chart shows it; the numbers stay one click away
    }
    figure.classList.add("charted");
  }

  Array.prototype.forEach.call(document.querySelectorAll("table[data-chart]"), draw);
})();
