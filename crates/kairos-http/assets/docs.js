// A small, dependency-free reader for the OpenAPI document, so that the reference works on
// intranets with no CDN. Everything is inserted with textContent: nothing from the
// document is interpreted as HTML.
(function () {
  "use strict";
  function el(tag, attrs, children) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    (children || []).forEach(function (c) {
      e.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
    });
    return e;
  }
  function resolve(spec, schema) {
    if (schema && schema.$ref) {
      var name = schema.$ref.split("/").pop();
      return { name: name, schema: spec.components.schemas[name] };
    }
    return { name: null, schema: schema };
  }
  function example(spec, schema, depth) {
    if (!schema || depth > 5) return null;
    var r = resolve(spec, schema); schema = r.schema || {};
    if (schema.allOf) { var o = {}; schema.allOf.forEach(function (s) { Object.assign(o, example(spec, s, depth + 1) || {}); }); return o; }
    if (schema.oneOf || schema.anyOf) return example(spec, (schema.oneOf || schema.anyOf).filter(function (s) { return s.type !== "null"; })[0], depth + 1);
    if (schema.enum) return schema.enum[0];
    var type = Array.isArray(schema.type) ? schema.type.filter(function (t) { return t !== "null"; })[0] : schema.type;
    if (type === "object" || schema.properties) {
      var out = {};
      Object.keys(schema.properties || {}).forEach(function (k) { out[k] = example(spec, schema.properties[k], depth + 1); });
      return out;
    }
    if (type === "array") return [example(spec, schema.items, depth + 1)];
    if (type === "integer" || type === "number") return 0;
    if (type === "boolean") return false;
    if (schema.format === "uuid") return "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b";
    if (schema.format === "date-time") return "2026-03-01T08:00:00Z";
    return "string";
  }
  function render(spec) {
    var toc = document.getElementById("toc"), ops = document.getElementById("ops");
    ops.textContent = "";
    var n = 0;
    Object.keys(spec.paths).sort().forEach(function (path) {
      Object.keys(spec.paths[path]).forEach(function (method) {
        var op = spec.paths[path][method], id = "op" + (n++);
        var title = method.toUpperCase() + " " + path;
        toc.appendChild(el("a", { href: "#" + id, "data-text": title.toLowerCase() }, [title]));
        var box = el("section", { id: id, class: "op", "data-text": title.toLowerCase() }, [
          el("h2", {}, [el("span", { class: "method " + method }, [method]), " ", path]),
          el("p", {}, [op.summary || ""]),
        ]);
        if (op.description) box.appendChild(el("p", {}, [op.description]));
        if (op.parameters && op.parameters.length) {
          box.appendChild(el("h3", {}, ["Parameters"]));
          var t = el("table", {}, [el("tr", {}, [el("th", {}, ["name"]), el("th", {}, ["in"]), el("th", {}, ["description"])])]);
          op.parameters.forEach(function (p) {
            t.appendChild(el("tr", {}, [el("td", {}, [p.name + (p.required ? " *" : "")]), el("td", {}, [p.in]), el("td", {}, [p.description || ""])]));
          });
          box.appendChild(t);
        }
        var body = op.requestBody && op.requestBody.content && op.requestBody.content["application/json"];
        if (body) {
          box.appendChild(el("h3", {}, ["Request body " + (resolve(spec, body.schema).name || "")]));
          box.appendChild(el("pre", {}, [JSON.stringify(example(spec, body.schema, 0), null, 2)]));
        }
        box.appendChild(el("h3", {}, ["Responses"]));
        Object.keys(op.responses || {}).forEach(function (code) {
          var r = op.responses[code], c = r.content && r.content["application/json"];
          box.appendChild(el("p", {}, [el("strong", {}, [code]), " " + (r.description || "") + (c ? " — " + (resolve(spec, c.schema).name || "") : "")]));
          if (c && code < "300") box.appendChild(el("pre", {}, [JSON.stringify(example(spec, c.schema, 0), null, 2)]));
        });
        ops.appendChild(box);
      });
    });
  }
  document.getElementById("filter").addEventListener("input", function (e) {
    var q = e.target.value.toLowerCase();
    document.querySelectorAll("[data-text]").forEach(function (x) { x.style.display = x.getAttribute("data-text").indexOf(q) >= 0 ? "" : "none"; });
  });
  fetch("/api/openapi.json").then(function (r) { return r.json(); }).then(render).catch(function (err) {
    document.getElementById("ops").textContent = "Could not load the OpenAPI document: " + err;
  });
})();
