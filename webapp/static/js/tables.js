// Every table with a header row: each cell carries its column's header in data-label, so on a
// phone (app.css, below 600 px) a row reads as a card of "header: value" lines. No inline
// scripts (the CSP forbids them); a template may set data-label itself, which is kept.
(function () {
  "use strict";

  function headers(table) {
    var head = table.tHead;
    if (!head || !head.rows.length) {
      return null;
    }
    var names = [];
    Array.prototype.forEach.call(head.rows[head.rows.length - 1].cells, function (cell) {
      var name = cell.textContent.replace(/\s+/g, " ").trim();
      for (var span = 0; span < (cell.colSpan || 1); span += 1) {
        names.push(name);
      }
    });
    return names;
  }

  function label(table) {
    var names = headers(table);
    if (!names) {
      return;
    }
    Array.prototype.forEach.call(table.tBodies, function (body) {
      Array.prototype.forEach.call(body.rows, function (row) {
        var column = 0;
        Array.prototype.forEach.call(row.cells, function (cell) {
          if (!cell.hasAttribute("data-label") && names[column]) {
            cell.setAttribute("data-label", names[column]);
          }
          column += cell.colSpan || 1;
        });
      });
    });
    table.classList.add("stacks");
  }

  Array.prototype.forEach.call(document.querySelectorAll("main table"), label);
})();
