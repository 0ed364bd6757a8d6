// Pieces the dataset, statement, source and ops views share: an action button that shows its
// problem, a form's per-field errors, a definition list, a bar chart and a job watcher.
import { h, showProblem } from "../ui.js";

/** A button that runs an async action, disabled while it runs, its failure shown in `problems`. */
export function actionButton(text, problems, action, attrs = {}) {
  const button = h("button", {
    type: "button",
    ...attrs,
    onclick: async () => {
      button.disabled = true;
      try {
        await action();
      } catch (error) {
        showProblem(problems, error);
      } finally {
        button.disabled = false;
      }
    },
  }, text);
  return button;
}

/**
 * The problem's detail, then its per-field errors (a validation problem's `errors`) as a list,
 * so a form says which field was wrong and why.
 */
export function showFieldErrors(container, error) {
  container.replaceChildren();
  const box = showProblem(container, error);
  const errors = error?.problem?.errors;
  if (errors && typeof errors === "object" && Object.keys(errors).length > 0) {
    box.append(h("ul", { class: "field-errors" },
      Object.entries(errors).map(([name, reasons]) => h("li", null, h("code", null, name), `: ${[].concat(reasons).join(" ")}`))));
  }
}

/** A definition list from [term, value] pairs; a null value shows as a dash. */
export function facts(pairs) {
  return h("dl", { class: "facts" },
    pairs.map(([term, value]) => [h("dt", null, term), h("dd", null, value ?? "–")]));
}

/**
 * A bar chart of `bars` ([{ label, value }]) with an optional `limit` drawn as a dashed line
 * (a policy's allowance per slot). SVG attributes only: the CSP allows no inline style.
 */
export function barChart(title, bars, limit) {
  const width = 600;
  const height = 120;
  const top = Math.max(1, limit || 0, ...bars.map((b) => b.value));
  const step = bars.length > 0 ? width / bars.length : width;
  const y = limit ? height - Math.round((limit / top) * height) : null;
  return h("svg", { viewBox: `0 0 ${width} ${height + 2}`, role: "img", class: "chart", "aria-label": title },
    h("title", null, title),
    bars.map((bar, index) => {
      const barHeight = Math.round((bar.value / top) * height);
      return h("rect", { x: index * step + 1, y: height - barHeight, width: Math.max(1, step - 2), height: barHeight, class: "bar" },
        h("title", null, `${bar.label}: ${bar.value}`));
    }),
    y === null ? null : h("line", { x1: 0, x2: width, y1: y, y2: y, class: "limit" }),
    h("line", { x1: 0, x2: width, y1: height, y2: height, class: "axis" }));
}

/** Whether a job's status is final (it changes again only if someone retries it). */
export function isFinal(status) {
  return ["completed", "failed", "cancelled", "ready", "synced"].includes(status);
}

/** Whether a final status is a success. */
export function succeeded(status) {
  return ["completed", "ready", "synced"].includes(status);
}

/**
 * Follows one job over Server-Sent Events (`/v1/jobs/{id}/stream`), calling `onJob` with each
 * version: the job as it stands first, then every change; the server ends the stream after the
 * final state. Returns a function that stops it.
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

/** The URL a source calls: its base URL and path, joined with one slash. */
export function callsOf(request) {
  return `${request.baseUrl.replace(/\/+$/, "")}/${request.path.replace(/^\/+/, "")}`;
}
