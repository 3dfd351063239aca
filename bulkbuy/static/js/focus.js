// A control inside a table that scrolls sideways is brought fully into view when it
// gets focus: browsers leave one that is partly visible where it is, mostly hidden.
(function () {
  "use strict";
  document.addEventListener("focusin", function (event) {
    var el = event.target;
    if (el.closest && el.closest(".table-scroll") && !el.classList.contains("table-scroll")) {
      el.scrollIntoView({ block: "nearest", inline: "nearest" });
    }
  });
})();
