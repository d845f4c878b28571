// "All topics" ticks or clears every topic box, and follows them when they change.
// Without JavaScript the server reads the "all topics" box itself.
(function () {
  "use strict";
  var pickers = document.querySelectorAll("[data-topic-picker]");
  Array.prototype.forEach.call(pickers, function (picker) {
    var all = picker.querySelector("[data-all-topics]");
    var boxes = Array.prototype.slice.call(picker.querySelectorAll("[data-topic]"));
    if (!all || boxes.length === 0) {
      return;
    }
    function follow() {
      all.checked = boxes.every(function (box) { return box.checked; });
    }
    all.addEventListener("change", function () {
      boxes.forEach(function (box) { box.checked = all.checked; });
    });
    boxes.forEach(function (box) { box.addEventListener("change", follow); });
    follow();
  });
})();
