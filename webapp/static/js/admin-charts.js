// Draws a Chart.js chart above every table marked data-chart, from the table's own numbers,
// so a chart never says anything its table does not. Without JavaScript the tables stand alone.
//   <table data-chart="bar|line" [data-horizontal] [data-stacked] [data-reverse]
//          [data-colors="single"] [data-x-title="axis title"]>
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
    return (cell.getAttribute("title") || cell.textContent || "").replace(/\s+/g, " ").trim();
  }

  // Long category labels (item titles, often 60 Chinese characters) wrap onto several lines
  // that fit the label column, instead of running off the left edge of the canvas. Chinese
  // breaks between any two characters; other text at spaces, or anywhere in a word too long
  // for a line.
  var MAX_LINES = 8;
  var measurer = document.createElement("canvas").getContext("2d");

  function labelFont(scale) {
    var font = Chart.helpers.toFont(scale.options.ticks.font);
    return font.string;
  }

  function wrap(label, width, font) {
    measurer.font = font;
    var fits = function (line) { return measurer.measureText(line).width <= width; };
    if (fits(label)) {
      return label;
    }
    // Pieces that must stay together: a run of non-space, non-CJK characters (a word) or one
    // CJK character, each with the spaces after it.
    var pieces = label.match(/[\u2e80-\u9fff\uf900-\ufaff\uff00-\uffef][\s]*|[^\s\u2e80-\u9fff\uf900-\ufaff\uff00-\uffef]+[\s]*|\s+/g) || [label];
    var lines = [];
    var line = "";
    pieces.forEach(function (piece) {
      if (fits((line + piece).trimEnd())) {
        line += piece;
        return;
      }
      if (line.trim()) {
        lines.push(line.trimEnd());
      }
      line = "";
      // A word wider than a whole line is broken between characters.
      Array.prototype.forEach.call(piece, function (ch) {
        if (line && !fits((line + ch).trimEnd())) {
          lines.push(line.trimEnd());
          line = "";
        }
        line += ch;
      });
    });
    if (line.trim()) {
      lines.push(line.trimEnd());
    }
    if (lines.length > MAX_LINES) {  // the table and the tooltip still show all of it
      lines = lines.slice(0, MAX_LINES);
      lines[MAX_LINES - 1] = lines[MAX_LINES - 1].slice(0, -1) + "…";
    }
    return lines;
  }

  // The share of a horizontal chart's width its labels may take: more on a phone, where the
  // bars need less room than the words.
  function labelWidth(chartWidth) {
    return Math.floor(chartWidth * (chartWidth < 500 ? 0.42 : 0.35));
  }

  function lineCount(label, width, font) {
    var wrapped = wrap(label, width, font);
    return Array.isArray(wrapped) ? wrapped.length : 1;
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
    var figure = table.closest("figure") || table.parentNode;
    if (horizontal) {
      // Chart.js gives every row the same height: that of the most wrapped label (a label
      // taller than its row would spill over the next one or off the canvas), and at least
      // that of its bars.
      var font = Chart.helpers.toFont(Chart.defaults.font).string;
      var width = labelWidth(figure.clientWidth || 600);
      var lines = data.labels.reduce(function (most, label) {
        return Math.max(most, lineCount(label, width, font));
      }, 1);
      var perRow = Math.max(34 * Math.max(1, datasets.length / 2), lines * 15 + 10);
      box.style.height = Math.max(160, data.labels.length * perRow + 60) + "px";
    }
    var canvas = document.createElement("canvas");
    var caption = table.caption ? table.caption.textContent.trim() : "";
    canvas.setAttribute("role", "img");
    canvas.setAttribute("aria-label", caption);
    box.appendChild(canvas);
    var title = document.createElement("p");
    title.className = "chart-title";
    title.textContent = caption;
    figure.insertBefore(title, figure.firstChild);
    figure.insertBefore(box, title.nextSibling);
    var valueAxis = { beginAtZero: true, stacked: stacked, ticks: { precision: 0 } };
    var labelAxis = { stacked: stacked, ticks: { autoSkip: !horizontal } };
    if (horizontal) {
      labelAxis.ticks.callback = function (value) {
        return wrap(this.getLabelForValue(value), labelWidth(this.chart.width), labelFont(this));
      };
      labelAxis.afterFit = function (scale) {
        // The label column, plus the tick mark and the gap before the text (Chart.js draws a
        // label right-aligned that far left of the axis): a wrapped label then fits inside
        // the canvas, and the bars keep the rest.
        var gap = (scale.options.grid.tickLength || 0) + (scale.options.ticks.padding || 0);
        scale.width = labelWidth(scale.chart.width) + gap + 2;
      };
    }
    var xTitle = table.getAttribute("data-x-title");
    if (xTitle) {
      (horizontal ? valueAxis : labelAxis).title = { display: true, text: xTitle };
    }
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
