// The shared tablet. Everything here only improves pages that work without it.
(function () {
  "use strict";
  var LIST = "/tablet/";
  var body = document.body;

  // A page restored from the back/forward cache may be the previous resident's.
  window.addEventListener("pageshow", function (event) {
    if (event.persisted) { window.location.replace(LIST); }
  });

  // Thank-you and PIN pages: back to the list on their own (the PIN page names the
  // flat tapped), counted from the last key or touch.
  var returnAfter = parseInt(body.getAttribute("data-return-after") || "0", 10);
  if (returnAfter > 0) {
    var back = null;
    var restart = function () {
      window.clearTimeout(back);
      back = window.setTimeout(function () { window.location.replace(LIST); },
                               returnAfter * 1000);
    };
    ["keydown", "input", "pointerdown"].forEach(function (name) {
      document.addEventListener(name, restart, true);
    });
    restart();
  }

  // Household list: filter the tiles as the resident types.
  var find = document.getElementById("find");
  if (find) {
    find.parentElement.hidden = false;
    var tiles = Array.prototype.slice.call(document.querySelectorAll(".tile-item"));
    var none = document.querySelector(".none-found");
    find.addEventListener("input", function () {
      var wanted = find.value.trim().toLowerCase();
      var shown = 0;
      tiles.forEach(function (tile) {
        var match = !wanted || tile.getAttribute("data-name").indexOf(wanted) !== -1;
        tile.hidden = !match;
        if (match) { shown += 1; }
      });
      if (none) { none.hidden = shown !== 0; }
    });
  }

  // A resident's turn: warn when idle, then end the turn (the server ends it too).
  if (body.getAttribute("data-turn") !== "open") { return; }
  var idle = parseInt(body.getAttribute("data-idle-seconds") || "120", 10);
  var warnAt = parseInt(body.getAttribute("data-warn-seconds") || "90", 10);
  var dialog = document.getElementById("idle-warning");
  var count = document.getElementById("idle-count");
  var keepGoing = document.getElementById("still-here");
  var doneForm = document.getElementById("done-form");
  // Counted from the server's last note of the resident (a few seconds before this page,
  // at most), less a margin for the page's own delays (loading, the 1 s tick, the answer
  // to "keep going"), so the page ends a turn before the server does, never after.
  var MARGIN = 2000;
  var started = Date.now() - MARGIN
    - 1000 * parseInt(body.getAttribute("data-seen-ago") || "0", 10);
  var ticker = null;

  function secondsIdle() { return Math.floor((Date.now() - started) / 1000); }

  function endTurn() {
    doneForm.elements.reason.value = "idle";
    doneForm.submit();
  }

  function tick() {
    var idleFor = secondsIdle();
    if (idleFor >= idle) { window.clearInterval(ticker); endTurn(); return; }
    if (idleFor >= warnAt) {
      if (dialog.hidden) { dialog.hidden = false; keepGoing.focus(); }
      count.textContent = (idle - idleFor) + " " + body.getAttribute("data-say-seconds-left");
    }
  }

  // The warning is modal: Tab stays on its one button while it shows.
  document.addEventListener("keydown", function (event) {
    if (event.key === "Tab" && !dialog.hidden) {
      event.preventDefault();
      keepGoing.focus();
    }
  });

  keepGoing.addEventListener("click", function () {
    var token = doneForm.elements.csrf_token.value;
    fetch("/tablet/still-here", {
      method: "POST", credentials: "same-origin",
      headers: { "X-CSRFToken": token },
    }).then(function (response) {
      if (response.status !== 200) { window.location.replace(LIST); return; }
      started = Date.now() - MARGIN;
      dialog.hidden = true;
    }, function () { started = Date.now() - MARGIN; dialog.hidden = true; });
  });

  ticker = window.setInterval(tick, 1000);
}());
