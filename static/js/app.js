// Small progressive enhancements; every page works without this file.
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  // Key tabs, in the WAI-ARIA tabs pattern: without JavaScript both inputs show; with it,
  // one tab at a time, the arrow keys (and Home, End) move between tabs, and only the
  // chosen tab's input is sent (the other is disabled, not cleared, so switching back
  // loses nothing).
  function setUpTabs(host) {
    var panels = Array.prototype.slice.call(host.querySelectorAll("[data-tab-panel]"));
    if (panels.length < 2) return;
    var bar = document.createElement("div");
    bar.className = "tabs";
    bar.setAttribute("role", "tablist");
    var label = host.getAttribute("data-tabs-label");
    if (label) bar.setAttribute("aria-label", label);
    var buttons = panels.map(function (panel, index) {
      var button = document.createElement("button");
      button.type = "button";
      button.id = "tab-" + panel.id;
      button.textContent = panel.getAttribute("data-tab-label");
      button.setAttribute("role", "tab");
      button.setAttribute("aria-controls", panel.id);
      panel.setAttribute("role", "tabpanel");
      panel.setAttribute("aria-labelledby", button.id);
      button.addEventListener("click", function () { select(index); });
      bar.appendChild(button);
      return button;
    });
    host.insertBefore(bar, host.firstChild);

    bar.addEventListener("keydown", function (event) {
      var current = buttons.indexOf(document.activeElement);
      if (current < 0) return;
      var next = {
        ArrowRight: (current + 1) % buttons.length,
        ArrowLeft: (current - 1 + buttons.length) % buttons.length,
        Home: 0,
        End: buttons.length - 1,
      }[event.key];
      if (next === undefined) return;
      event.preventDefault();
      select(next);
      buttons[next].focus();
    });

    function select(chosen) {
      panels.forEach(function (panel, index) {
        var active = index === chosen;
        panel.hidden = !active;
        buttons[index].setAttribute("aria-selected", active ? "true" : "false");
        buttons[index].tabIndex = active ? 0 : -1;
        panel.querySelectorAll("input, textarea").forEach(function (input) {
          input.disabled = !active;
        });
      });
    }
    var initial = panels.findIndex(function (p) { return p.hasAttribute("data-tab-selected"); });
    select(initial < 0 ? 0 : initial);
  }

  // A link to a closed <details> (Before you start) opens it.
  function openLinkedDetails() {
    var id = decodeURIComponent(window.location.hash.slice(1));
    var target = id && document.getElementById(id);
    if (target && target.tagName === "DETAILS") target.open = true;
  }
  window.addEventListener("hashchange", openLinkedDetails);

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-tabs]").forEach(setUpTabs);
    openLinkedDetails();
  });
})();
