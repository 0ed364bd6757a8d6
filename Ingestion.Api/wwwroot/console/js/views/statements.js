// #/statements: request an account's statement for a period, watch it render live, and download
// it. The Download button asks the API for a fresh presigned link when pressed, so a page left
// open for hours never offers a link that has expired.
import { field, formatBytes, formatNumber, formatTime, h, statusBadge } from "../ui.js";
import { actionButton, facts, showFieldErrors, watchJob } from "./parts.js";

export async function render(main, { api, params }) {
  const today = new Date().toISOString().slice(0, 10);
  const account = h("input", { type: "number", name: "accountId", min: "1", step: "1", inputmode: "numeric", required: true });
  const from = h("input", { type: "date", name: "from", required: true, value: `${today.slice(0, 4)}-01-01` });
  const to = h("input", { type: "date", name: "to", value: today });
  const submit = h("button", { type: "submit" }, "Request the statement");
  const problems = h("div", { class: "problems" });
  const form = h("form", { class: "stack" },
    field("Account", account, "The account_id of the transactions dataset."),
    field("From", from, "Inclusive, UTC."),
    field("To", to, "Inclusive; empty for today."),
    submit, problems);
  const watch = h("section", { class: "statement", "aria-labelledby": "statement-job", hidden: true });
  main.append(h("h1", null, "Statements"),
    h("section", { "aria-labelledby": "statement-request" }, h("h2", { id: "statement-request" }, "Request one"), form),
    watch);

  let stop = () => {};
  const follow = (jobId) => {
    stop();
    watch.hidden = false;
    stop = followStatement(api, jobId, watch);
  };

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    problems.replaceChildren();
    submit.disabled = true;
    try {
      const body = { accountId: Number(account.value), from: from.value };
      if (to.value) body.to = to.value;
      const accepted = await api.post("/v1/statements", body);
      // The address names the job, so a reload or a bookmark shows it live again.
      history.replaceState(null, "", `#/statements?job=${encodeURIComponent(accepted.jobId)}`);
      follow(accepted.jobId);
    } catch (error) {
      showFieldErrors(problems, error);
    } finally {
      submit.disabled = false;
    }
  });

  if (params.job) follow(params.job);
  return () => stop();
}

/** Shows the job as its stream reports it; the Download button appears once it is ready. */
function followStatement(api, jobId, section) {
  const state = h("p", { role: "status" });
  const progress = h("progress", { max: "1", value: 0, "aria-label": "Pages rendered" });
  const details = h("div");
  const download = h("div", { class: "download" });
  const problems = h("div", { class: "problems" });
  section.replaceChildren(
    h("h2", { id: "statement-job" }, "Statement ", h("a", { href: `#/jobs/${encodeURIComponent(jobId)}` }, jobId)),
    state, progress, details, download, problems);

  let offered = null;
  return watchJob(api, jobId, (job) => {
    const p = job.progress ?? {};
    const of = (done, total) => (total ? `${formatNumber(done ?? 0)} of ${formatNumber(total)}` : formatNumber(done ?? 0));
    state.replaceChildren("Status: ", statusBadge(job.status));
    if (p.pagesTotal) {
      progress.max = p.pagesTotal;
      progress.value = p.pagesRendered ?? 0;
    } else if (job.status === "ready") {
      progress.max = 1;
      progress.value = 1;
    }
    details.replaceChildren(facts([
      ["Account", job.statement ? String(job.statement.accountId) : null],
      ["Period", job.statement ? `${job.statement.from} to ${job.statement.to}` : null],
      ["Lines", of(p.linesRendered, p.linesTotal)],
      ["Pages", of(p.pagesRendered, p.pagesTotal)],
      ...(job.document ? [["Document", `${formatBytes(job.document.bytes)}, ${job.document.contentType}`], ["Kept until", formatTime(job.document.expiresAt)]] : []),
      ...(job.error ? [["Error", `${job.error.code}: ${job.error.message}`]] : []),
    ]));

    if (job.status !== offered && (job.status === "ready" || job.status === "failed")) {
      offered = job.status;
      download.replaceChildren();
      if (job.document && !job.document.expired) {
        download.append(actionButton("Download", problems, () => downloadStatement(api, jobId)));
      } else if (job.document) {
        download.append(h("p", null, "The document has expired; request the statement again."));
      }
    }
  });
}

/** Asks for a fresh presigned link and follows it; the link names the file, so the browser saves the PDF. */
async function downloadStatement(api, jobId) {
  const link = await api.get(`/v1/jobs/${encodeURIComponent(jobId)}/download`);
  const anchor = h("a", { href: link.url, download: link.fileName ?? true, rel: "noopener", hidden: true });
  document.body.append(anchor);
  anchor.click();
  anchor.remove();
}
