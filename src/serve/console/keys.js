// Keys on the queue: j/k move, x select, o open, a approve, r reject (to its confirmation).
// Never while typing in a field: a key there is text.
(function () {
  var rows = Array.prototype.slice.call(document.querySelectorAll("#queue tr.item"));
  var at = -1;
  function go(i) {
    if (!rows.length) return;
    if (at >= 0) rows[at].classList.remove("current");
    at = Math.max(0, Math.min(rows.length - 1, i));
    rows[at].classList.add("current");
    rows[at].querySelector("a.open").focus();
  }
  document.addEventListener("keydown", function (e) {
    var t = e.target;
    if (e.altKey || e.ctrlKey || e.metaKey || (t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT" || t.isContentEditable))) return;
    if (e.key === "j") { go(at + 1); e.preventDefault(); return; }
    if (e.key === "k") { go(at - 1); e.preventDefault(); return; }
    if (at < 0) return;
    var row = rows[at];
    if (e.key === "x") { var c = row.querySelector("input.pick"); c.checked = !c.checked; e.preventDefault(); }
    else if (e.key === "o") { window.location = row.querySelector("a.open").href; e.preventDefault(); }
    else if (e.key === "a") { row.querySelector("button.approve").click(); e.preventDefault(); }
    else if (e.key === "r") { row.querySelector("button.reject").click(); e.preventDefault(); }
  });
})();
