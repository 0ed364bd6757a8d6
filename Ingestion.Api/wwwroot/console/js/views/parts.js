// Pieces the dataset, statement, source and ops views share: labelled fields, a job watcher,
// a bar chart and a live status line. Everything goes through ui.js's h() (text nodes only).
import { h, showProblem } from "../ui.js";

let lastId = 0;

/** A unique id for pairing a <label> with its control. */
export function uid(prefix) {
  lastId += 1;
  return `${prefix}-${lastId}`;
}

/** Adds listeners to an element and returns it: h() is only given string attributes. */
export function on(element, listeners) {
  for (const [event, handler] of Object.entries(listeners)) {
    element.addEventListener(event, handler);
  }
  return element;
}

/** Sets DOM properties (value, checked, disabled, required…) and returns the element. */
export function props(element, values) {
  Object.assign(element, values);
  return element;
}

/** A labelled control: <div class="field"><label for=…>text</label>control [hint]</div>. */
export function field(text, control, hint) {
  if (!control.id) {
    control.id = uid("f");
  }
  const children = [h("label", { for: control.id }, text), control];
  if (hint) {
    const hintId = uid("hint");
    control.setAttribute("aria-describedby", hintId);
    children.push(h("small", { id: hintId, class: "hint" }, hint));
  }
  return h("div", { class: "field" }, ...children);
}

/** A button that runs an async action, disabled while it runs, with its errors shown in `problems`. */
export function actionButton(text, problems, action, attrs = {}) {
  const button = h("button", { type: "button", ...attrs }, text);
  on(button, {
    click: async () => {
      button.disabled = true;
      problems.replaceChildren();
      try {
        await action();
      } catch (error) {
        showProblem(problems, error);
      } finally {
        button.disabled = false;
      }
    },
  });
  return button;
}

/**
 * The problem's per-field errors (a validation problem's `errors`) as a list under the detail,
 * so a form says which field was wrong and why.
 */
export function showFieldErrors(container, error) {
  showProblem(container, error);
  const errors = error && error.problem && error.problem.errors;
  if (errors && typeof errors === "object") {
    const items = Object.entries(errors).map(([name, reasons]) =>
      h("li", {}, h("code", {}, name), `: ${[].concat(reasons).join(" ")}`));
    if (items.length > 0) {
      container.append(h("ul", { class: "field-errors" }, ...items));
    }
  }
}

/** A definition list from [term, value] pairs; values are strings or nodes. */
export function facts(pairs) {
  const children = [];
  for (const [term, value] of pairs) {
    children.push(h("dt", {}, term), h("dd", {}, value === null || value === undefined ? "—" : value));
  }
  return h("dl", { class: "facts" }, ...children);
}

/** A plain table whose cells are strings or nodes; `caption` names it for screen readers. */
export function grid(caption, headers, rows) {
  return h("div", { class: "table-scroll" },
    h("table", {},
      h("caption", {}, caption),
      h("thead", {}, h("tr", {}, ...headers.map((title) => h("th", { scope: "col" }, title)))),
      h("tbody", {}, ...rows.map((cells) => h("tr", {}, ...cells.map((cell) => h("td", {}, cell ?? "")))))));
}

const SVG = "http://www.w3.org/2000/svg";

function svg(tag, attrs) {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) {
    element.setAttribute(name, String(value));
  }
  return element;
}

/**
 * A bar chart of `bars` ([{ label, value }]) against `limit` (a dashed line, e.g. a policy's
 * allowance per slot). Attributes only, no style attribute: the CSP allows no inline style.
 */
export function barChart(title, bars, limit) {
  const width = 600;
  const height = 120;
  const top = Math.max(1, limit || 0, ...bars.map((b) => b.value));
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height + 2}`, role: "img", class: "chart", "aria-label": title });
  const titleElement = svg("title", {});
  titleElement.textContent = title;
  chart.append(titleElement);
  const step = bars.length > 0 ? width / bars.length : width;
  bars.forEach((bar, index) => {
    const barHeight = Math.round((bar.value / top) * height);
    const rect = svg("rect", { x: index * step + 1, y: height - barHeight, width: Math.max(1, step - 2), height: barHeight, class: "bar" });
    const tip = svg("title", {});
    tip.textContent = `${bar.label}: ${bar.value}`;
    rect.append(tip);
    chart.append(rect);
  });
  if (limit) {
    const y = height - Math.round((limit / top) * height);
    chart.append(svg("line", { x1: 0, x2: width, y1: y, y2: y, class: "limit" }));
  }
  chart.append(svg("line", { x1: 0, x2: width, y1: height, y2: height, class: "axis" }));
  return chart;
}

/** Whether a job's status is final (no more changes unless someone retries it). */
export function isFinal(status) {
  return ["completed", "failed", "cancelled", "ready", "synced"].includes(status);
}

/**
 * Follows one job over Server-Sent Events (`/v1/jobs/{id}/stream`), calling `onJob` with each
 * version; the server ends the stream after the final state. Returns a function that stops it.
 */
export function watchJob(api, jobId, onJob) {
  const source = api.stream(`/v1/jobs/${encodeURIComponent(jobId)}/stream`);
  const handle = (event) => {
    const job = JSON.parse(event.data);
    onJob(job);
    if (isFinal(job.status)) {
      source.close();
    }
  };
  source.addEventListener("state", handle);
  source.addEventListener("progress", handle);
  return () => source.close();
}

/** A status badge: the state's word, styled by its kind (running, done, failed). */
export function statusBadge(status) {
  const tone = ["failed", "cancelled"].includes(status) ? "bad" : isFinal(status) ? "good" : "busy";
  return h("span", { class: `badge ${tone}`, "data-status": status }, status);
}
