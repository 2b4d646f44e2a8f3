// Create Import: show only the fields that apply to the current choice, and mark the
// columns used as identity, event name or timestamp. The pages work without this file:
// then every field shows and the server ignores the ones that do not apply.
(function () {
  "use strict";

  function valueOf(form, name) {
    var fields = form.querySelectorAll("[name='" + name + "']");
    for (var i = 0; i < fields.length; i++) {
      var field = fields[i];
      if (field.type === "radio" || field.type === "checkbox") {
        if (field.checked) return field.value;
      } else {
        return field.value;
      }
    }
    return "";
  }

  function applies(form, rule) {
    var parts = rule.split("=");
    var wanted = parts[1].split(",");
    return wanted.indexOf(valueOf(form, parts[0])) !== -1;
  }

  // The type of each source column, from the page (json_script "column-types").
  function columnTypes() {
    var script = document.getElementById("column-types");
    return script ? JSON.parse(script.textContent) : {};
  }

  // "timestamp_column=DATETIME,DATE": shown when the column chosen there has one of the types.
  function appliesToType(form, rule, types) {
    var parts = rule.split("=");
    var wanted = parts[1].split(",");
    return wanted.indexOf(types[valueOf(form, parts[0])] || "") !== -1;
  }

  function refresh(form) {
    var types = columnTypes();
    form.querySelectorAll("[data-show-if]").forEach(function (el) {
      el.hidden = !applies(form, el.getAttribute("data-show-if"));
    });
    form.querySelectorAll("[data-show-if-type]").forEach(function (el) {
      el.hidden = !appliesToType(form, el.getAttribute("data-show-if-type"), types);
    });
    markRoles(form);
  }

  // On the target step: a column used as identity (or event name, timestamp) is not also a
  // property, so its row says so and its inputs are switched off.
  function markRoles(form) {
    var mapping = form.querySelector("#mapping");
    if (!mapping) return;
    var events = valueOf(form, "target") === "events";
    var roles = {};
    roles[valueOf(form, "identity_column")] = "identity";
    if (events) {
      if (valueOf(form, "event_name_source") !== "fixed") {
        roles[valueOf(form, "event_name_column")] = "event name";
      }
      roles[valueOf(form, "timestamp_column")] = "timestamp";
    }
    mapping.querySelectorAll("tr[data-column]").forEach(function (row) {
      var role = roles[row.getAttribute("data-column")] || "";
      var badge = row.querySelector("[data-role-for]");
      if (badge) badge.textContent = role ? "(" + role + ")" : "";
      row.classList.toggle("is-used", !!role);
      row.querySelectorAll("input").forEach(function (input) { input.disabled = !!role; });
    });
  }

  function markChosen(name) {
    document.querySelectorAll("tr[data-table-row]").forEach(function (row) {
      row.classList.toggle("is-chosen", row.getAttribute("data-table-row") === name);
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form.create-form").forEach(function (form) {
      refresh(form);
      form.addEventListener("change", function () { refresh(form); });
    });
    // A dry-run result belongs to the query it checked: editing the query clears it.
    var query = document.querySelector("textarea[name=query]");
    var checked = document.getElementById("query-check");
    if (query && checked) {
      query.addEventListener("input", function () { checked.innerHTML = ""; });
    }
    document.addEventListener("click", function (event) {
      var link = event.target.closest && event.target.closest("a[data-table]");
      if (link) markChosen(link.getAttribute("data-table"));
    });
    // Before the form is sent, switched-off inputs come back on so nothing the server
    // expects goes missing; it ignores the columns in a role anyway.
    document.querySelectorAll("form.create-form").forEach(function (form) {
      form.addEventListener("submit", function () {
        form.querySelectorAll("#mapping input:disabled").forEach(function (input) {
          input.disabled = false;
        });
      });
    });
  });
})();
