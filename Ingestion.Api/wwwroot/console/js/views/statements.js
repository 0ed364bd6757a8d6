// #/statements: request an account's statement for a period, watch it render live, and download
// it. The Download button asks the API for a fresh presigned link when pressed, so a page left
// open for hours never offers a link that has expired.
import { formatBytes, formatNumber, h, showProblem } from "../ui.js";
import { actionButton, facts, field, isFinal, on, props, showFieldErrors, statusBadge, watchJob } from "./parts.js";

function isoDay(date) {
  return date.toISOString().slice(0, 10);
}

export async function render(main, ctx) {
  const { api, params } = ctx;
  main.append(h("h1", {}, "Statements"));

  const today = new Date();
  const account = props(h("input", { type: "number", name: "accountId", min: "1", step: "1", inputmode: "numeric" }), { required: true });
  const from = props(h("input", { type: "date", name: "from" }), { required: true, value: `${today.getUTCFullYear()}-01-01` });
  const to = props(h("input", { type: "date", name: "to" }), { value: isoDay(today) });
  const submit = h("button", { type: "submit" }, "Request the statement");
  const problems = h("div", { class: "problems" });
  const form = h("form", { class: "stack" },
    field("Account", account, "the account_id of the transactions dataset"),
    field("From", from, "inclusive, UTC"),
    field("To", to, "inclusive; empty for today"),
    submit, problems);
  const watch = h("section", { class: "statement", "aria-labelledby": "statement-job", hidden: "" });
  main.append(h("section", { "aria-labelledby": "statement-request" }, h("h2", { id: "statement-request" }, "Request one"), form), watch);

  let stop = () => {};
  const follow = (jobId) => {
    stop();
    watch.hidden = false;
    stop = followStatement(api, jobId, watch);
  };

  on(form, {
    submit: async (event) => {
      event.preventDefault();
      problems.replaceChildren();
      submit.disabled = true;
      try {
        const body = { accountId: Number(account.value), from: from.value };
        if (to.value) {
          body.to = to.value;
        }
        const accepted = await api.post("/v1/statements", body);
        history.replaceState(null, "", `#/statements?job=${encodeURIComponent(accepted.jobId)}`);
        follow(accepted.jobId);
      } catch (error) {
        showFieldErrors(problems, error);
      } finally {
        submit.disabled = false;
      }
    },
  });

  // Reopening the page (or a link to it) shows that job live again.
  if (params.job) {
    follow(params.job);
  }
  return () => stop();
}

/** Renders the job as its stream reports it; the Download button appears once it is ready. */
function followStatement(api, jobId, section) {
  const heading = h("h2", { id: "statement-job" }, "Statement ", h("a", { href: `#/jobs/${encodeURIComponent(jobId)}` }, jobId));
  const state = h("div", { role: "status", "aria-live": "polite" });
  const progress = props(h("progress", { max: "1", "aria-label": "Pages rendered" }), { value: 0 });
  const details = h("div");
  const download = h("div", { class: "download" });
  const problems = h("div", { class: "problems" });
  section.replaceChildren(heading, state, progress, details, download, problems);

  let shown = null;
  const onJob = (job) => {
    const p = job.progress || {};
    state.replaceChildren("Status: ", statusBadge(job.status));
    if (p.pagesTotal) {
      progress.max = p.pagesTotal;
      progress.value = p.pagesRendered || 0;
    } else if (job.status === "ready") {
      progress.max = 1;
      progress.value = 1;
    }
    const rows = [
      ["Account", job.statement ? String(job.statement.accountId) : null],
      ["Period", job.statement ? `${job.statement.from} to ${job.statement.to}` : null],
      ["Lines", p.linesTotal ? `${formatNumber(p.linesRendered || 0)} of ${formatNumber(p.linesTotal)}` : formatNumber(p.linesRendered || 0)],
      ["Pages", p.pagesTotal ? `${formatNumber(p.pagesRendered || 0)} of ${formatNumber(p.pagesTotal)}` : formatNumber(p.pagesRendered || 0)],
    ];
    if (job.document) {
      rows.push(["Document", `${formatBytes(job.document.bytes)}, ${job.document.contentType}`]);
      rows.push(["Kept until", job.document.expiresAt ? new Date(job.document.expiresAt).toLocaleString() : null]);
    }
    if (job.error) {
      rows.push(["Error", `${job.error.code}: ${job.error.message}`]);
    }
    details.replaceChildren(facts(rows));

    if (isFinal(job.status) && shown !== job.status) {
      shown = job.status;
      download.replaceChildren();
      if (job.status === "ready" && job.document && !job.document.expired) {
        download.append(actionButton("Download", problems, () => fetchAndDownload(api, jobId)));
      } else if (job.document && job.document.expired) {
        download.append(h("p", {}, "The document has expired; request the statement again."));
      }
    }
  };

  // The stream sends the job as it stands first, so a job that is already ready shows at once.
  const stopWatching = watchJob(api, jobId, onJob);
  api.get(`/v1/jobs/${encodeURIComponent(jobId)}`).then(onJob, (error) => showProblem(problems, error));
  return stopWatching;
}

/** Asks for a fresh presigned link and follows it: the browser saves the PDF (the link names the file). */
async function fetchAndDownload(api, jobId) {
  const link = await api.get(`/v1/jobs/${encodeURIComponent(jobId)}/download`);
  const anchor = h("a", { href: link.url, download: link.fileName || "", rel: "noopener", hidden: "" });
  document.body.append(anchor);
  anchor.click();
  anchor.remove();
}
