// mcheck HTML report: inlined into index.html by mcheck/report/html.py.
// Pointing at a step of a sequence diagram highlights it and its edge in the state graph.
(function () {
  "use strict";
  document.querySelectorAll("section.violation").forEach(function (section) {
    section.querySelectorAll("[data-step]").forEach(function (el) {
      var same = section.querySelectorAll('[data-step="' + el.getAttribute("data-step") + '"]');
      el.addEventListener("mouseenter", function () { same.forEach(function (s) { s.classList.add("hl"); }); });
      el.addEventListener("mouseleave", function () { same.forEach(function (s) { s.classList.remove("hl"); }); });
    });
  });
  var data = JSON.parse(document.getElementById("mcheck-result").textContent);
  document.documentElement.setAttribute("data-ready", data.schema);
})();
