// Small progressive enhancements; every page works without this file.
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  // Key tabs: without JavaScript both inputs show; with it, one tab at a time,
  // and switching clears the hidden input so exactly one key is sent.
  function setUpTabs(host) {
    var panels = Array.prototype.slice.call(host.querySelectorAll("[data-tab-panel]"));
    if (panels.length < 2) return;
    var bar = document.createElement("div");
    bar.className = "tabs";
    bar.setAttribute("role", "tablist");
    var buttons = panels.map(function (panel, index) {
      var button = document.createElement("button");
      button.type = "button";
      button.id = "tab-" + panel.id;
      button.textContent = panel.getAttribute("data-tab-label");
      button.setAttribute("role", "tab");
      button.setAttribute("aria-controls", panel.id);
      panel.setAttribute("role", "tabpanel");
      panel.setAttribute("aria-labelledby", button.id);
      button.addEventListener("click", function () { select(index, true); });
      bar.appendChild(button);
      return button;
    });
    host.insertBefore(bar, host.firstChild);

    function select(chosen, clearOthers) {
      panels.forEach(function (panel, index) {
        var active = index === chosen;
        panel.hidden = !active;
        buttons[index].setAttribute("aria-selected", active ? "true" : "false");
        if (!active && clearOthers) {
          panel.querySelectorAll("input, textarea").forEach(function (input) { input.value = ""; });
        }
      });
    }
    var initial = panels.findIndex(function (p) { return p.hasAttribute("data-tab-selected"); });
    select(initial < 0 ? 0 : initial, false);
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
