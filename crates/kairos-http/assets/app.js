// Kairos in the browser: htmx for forms and fragments, SortableJS for the kanban, ECharts
// for charts. The server decides everything; this file only wires events.
(function () {
  "use strict";
  var csrf = function () {
    var m = document.querySelector('meta[name="csrf-token"]');
    return m ? m.content : "";
  };

  document.addEventListener("htmx:configRequest", function (e) {
    e.detail.headers["X-CSRF-Token"] = csrf();
  });
  if (window.htmx) {
    // 4xx answers carry fragments the user must see (gate refusals, field errors).
    htmx.config.responseHandling = [
      { code: "204", swap: false },
      { code: "[23]..", swap: true },
      { code: "4..", swap: true, error: false },
      { code: "5..", swap: true, error: true },
    ];
  }

  var dialog = function () { return document.getElementById("dialog"); };
  function showDialog(html) {
    var d = dialog();
    var body = document.getElementById("dialog-body");
    body.innerHTML = html;
    if (window.htmx) htmx.process(body);
    if (!d.open) d.showModal();
    var first = body.querySelector("input:not([type=hidden]), select, textarea, button");
    if (first) first.focus();
  }
  function toast(text) {
    var t = document.getElementById("toast");
    if (!t) return;
    t.textContent = text;
    t.classList.add("show");
    clearTimeout(toast.timer);
    toast.timer = setTimeout(function () { t.classList.remove("show"); }, 3000);
  }

  document.addEventListener("click", function (e) {
    var close = e.target.closest("[data-close-dialog]");
    if (close) {
      var d = close.closest("dialog");
      if (d) d.close();
    }
    var open = e.target.closest("[data-open-dialog]");
    if (open) {
      var target = document.getElementById(open.getAttribute("data-open-dialog"));
      if (target) target.showModal();
    }
  });

  // One move path for drag-and-drop and the keyboard menu: the stage engine answers
  // moved, pending, refused or error (X-Kairos-Outcome); only "moved" keeps the card.
  function move(id, stageId, version, undo) {
    var body = new URLSearchParams({ stage_id: stageId });
    if (version) body.set("version", version);
    return fetch("/opportunities/" + encodeURIComponent(id) + "/move", {
      method: "POST",
      headers: { "X-CSRF-Token": csrf(), "HX-Request": "true", "Content-Type": "application/x-www-form-urlencoded" },
      body: body,
      credentials: "same-origin",
    }).then(function (resp) {
      var outcome = resp.headers.get("X-Kairos-Outcome") || "error";
      var redirect = resp.headers.get("HX-Redirect");
      if (redirect) { window.location = redirect; return; }
      return resp.text().then(function (html) {
        if (outcome !== "moved" && undo) undo();
        if (outcome === "moved") {
          toast(textOf(html));
          document.body.dispatchEvent(new CustomEvent("kairos-moved"));
          if (!document.getElementById("board")) window.location.reload();
        } else {
          showDialog(html);
          if (outcome === "pending") document.body.dispatchEvent(new CustomEvent("kairos-moved"));
        }
      });
    }).catch(function () {
      if (undo) undo();
      toast(document.body.dataset.lang === "en" ? "Network error: nothing was changed." : "网络错误：未做任何更改。");
    });
  }
  function textOf(html) {
    var div = document.createElement("div");
    div.innerHTML = html;
    var p = div.querySelector(".notice");
    return p ? p.textContent.trim() : "";
  }

  // After the gate form's retry succeeds, refresh the board behind the dialog.
  document.addEventListener("htmx:afterRequest", function (e) {
    var xhr = e.detail.xhr;
    if (!xhr) return;
    var outcome = xhr.getResponseHeader("X-Kairos-Outcome");
    if (outcome === "moved" && !document.getElementById("board")) {
      setTimeout(function () { window.location.reload(); }, 600);
    }
  });

  // Uploads show how much of the file has been sent (an import file can be 20 MB); the
  // server's own progress takes over once it has the file.
  document.addEventListener("htmx:xhr:progress", function (e) {
    var form = e.target.closest && e.target.closest("form");
    var bar = form && form.querySelector("progress.upload");
    if (!bar || !e.detail.lengthComputable) return;
    bar.hidden = false;
    bar.value = Math.round(e.detail.loaded * 100 / e.detail.total);
  });

  function columns() {
    return Array.prototype.map.call(document.querySelectorAll(".cards[data-stage]"), function (c) {
      var h = c.parentElement.querySelector("h2");
      return { id: c.dataset.stage, name: h ? h.firstChild.textContent.trim() : c.dataset.stage };
    });
  }

  function initBoard(root) {
    var cols = columns();
    root.querySelectorAll("select.move-to").forEach(function (sel) {
      if (sel.options.length > 1) return;
      var here = sel.closest(".cards");
      cols.forEach(function (c) {
        if (here && here.dataset.stage === c.id) return;
        var o = document.createElement("option");
        o.value = c.id;
        o.textContent = c.name;
        sel.appendChild(o);
      });
    });
    if (!window.Sortable) return;
    root.querySelectorAll(".cards[data-stage]").forEach(function (list) {
      if (list._sortable) return;
      list._sortable = Sortable.create(list, {
        group: "kanban",
        animation: 150,
        // Pointer events rather than native HTML drag: the same on mouse, touch and pen,
        // and the card can be dropped anywhere in a column.
        forceFallback: true,
        fallbackOnBody: true,
        draggable: ".card",
        filter: "select, button, input",
        preventOnFilter: false,
        onEnd: function (evt) {
          if (evt.from === evt.to) return;
          var card = evt.item;
          var undo = function () {
            var ref = evt.from.children[evt.oldIndex] || null;
            evt.from.insertBefore(card, ref);
          };
          move(card.dataset.id, evt.to.dataset.stage, card.dataset.version, undo);
        },
      });
    });
  }

  document.addEventListener("change", function (e) {
    var sel = e.target.closest("select.move-to");
    if (!sel || !sel.value) return;
    var stage = sel.value;
    sel.value = "";
    var holder = sel.closest("[data-version]");
    move(sel.dataset.id, stage, holder ? holder.dataset.version : null, null);
  });

  function initCharts(root) {
    if (!window.echarts) return;
    root.querySelectorAll("[data-chart]").forEach(function (el) {
      if (el._chart) return;
      try {
        var option = JSON.parse(el.getAttribute("data-chart"));
        // Numbers first: no entry animation to wait for (and screenshots show the data).
        option.animation = false;
        el._chart = echarts.init(el, null, { renderer: "svg" });
        el._chart.setOption(option);
      } catch (err) {
        el.textContent = String(err);
      }
    });
  }
  window.addEventListener("resize", function () {
    document.querySelectorAll("[data-chart]").forEach(function (el) { if (el._chart) el._chart.resize(); });
  });

  function init(root) {
    initBoard(root);
    initCharts(root);
  }
  document.addEventListener("DOMContentLoaded", function () { init(document); });
  document.addEventListener("htmx:afterSettle", function (e) { init(document); });
})();
