// #/sources/{name}: a source, its recent syncs, starting a sync, and watching it run with its
// use of the rate budget over time. Two views of the budget: the credential's grants per time
// slot from GET /v1/sources/{name}/budget (shared by every worker and every source on the same
// credential, as far back as the budget's longest window), and the sync's own pace sampled from
// its progress events while this page is open.
import { formatNumber, h, showProblem } from "../ui.js";
import { barChart, facts, field, grid, on, props, showFieldErrors, statusBadge, watchJob } from "./parts.js";

/** How often the budget is read while a sync of this page runs (a cheap, indexed read). */
const BUDGET_POLL_MS = 2000;

/** Samples of the sync's pace kept for the chart: two minutes at a few a second is plenty. */
const MAX_SAMPLES = 120;

export async function render(main, ctx) {
  const { api, params } = ctx;
  const name = params.name;
  const path = `/v1/sources/${encodeURIComponent(name)}`;
  main.append(h("h1", {}, `Source ${name}`));

  let source;
  try {
    source = await api.get(path);
  } catch (error) {
    showProblem(main, error);
    return undefined;
  }

  main.append(h("section", { "aria-labelledby": "source-definition" },
    h("h2", { id: "source-definition" }, "Definition"),
    facts([
      ["Into dataset", h("a", { href: `#/datasets/${encodeURIComponent(source.dataset)}` }, source.dataset)],
      ["Calls", `${source.request.baseUrl}${source.request.path}`],
      ["Credential", source.auth ? `${source.auth.in} ${source.auth.name}, ${source.auth.secretUnreadable ? "secret unreadable: send it again" : source.auth.hasSecret ? "secret stored" : "no secret"}` : "none"],
      ["Pages", `${source.pagination.style}${source.pagination.pageSize ? `, ${source.pagination.pageSize} a page` : ""}`],
      ["Rate limit", source.rateLimit.policies.map((p) => `${p.requests} per ${p.perSeconds} s`).join(", ") || "none declared"],
      ["Incremental", source.incremental ? `on ${source.incremental.column}` : "no"],
      ["Schedule", source.schedule ? `every ${source.schedule.everyMinutes} min, ${source.schedule.mode}` : "on demand"],
    ])));

  const cleanups = [];
  const budget = budgetPanel(api, path);
  cleanups.push(budget.stop);

  // Start a sync.
  const mode = h("select", { name: "mode" }, h("option", { value: "full" }, "full"),
    ...(source.incremental ? [h("option", { value: "incremental" }, "incremental: from the dataset's high-water mark")] : []));
  const submit = h("button", { type: "submit" }, "Start a sync");
  const problems = h("div", { class: "problems" });
  const form = h("form", { class: "stack" }, field("Mode", mode), submit, problems);
  const run = h("div", { class: "sync-run" });
  main.append(h("section", { "aria-labelledby": "source-sync" }, h("h2", { id: "source-sync" }, "Sync"), form, run), budget.section);

  let stopRun = () => {};
  cleanups.push(() => stopRun());
  const follow = (jobId) => {
    stopRun();
    stopRun = followSync(api, jobId, run, budget);
  };
  on(form, {
    submit: async (event) => {
      event.preventDefault();
      problems.replaceChildren();
      submit.disabled = true;
      try {
        const accepted = await api.post(`${path}/syncs`, { mode: mode.value });
        follow(accepted.jobId);
      } catch (error) {
        showFieldErrors(problems, error);
      } finally {
        submit.disabled = false;
      }
    },
  });

  // Recent syncs of this source (the jobs API filters by dataset; the source is the job's own field).
  const recent = h("section", { "aria-labelledby": "source-recent" }, h("h2", { id: "source-recent" }, "Recent syncs"));
  main.append(recent);
  try {
    const page = await api.get(`/v1/jobs?kind=sync&dataset=${encodeURIComponent(source.dataset)}&limit=20`);
    const mine = page.items.filter((job) => job.sync && job.sync.source === name);
    recent.append(mine.length === 0 ? h("p", {}, "This source has not been synced yet.")
      : grid(`Recent syncs of ${name}`, ["Job", "Status", "Mode", "Records", "Rows loaded", "Requests", "Created"],
        mine.map((job) => [
          h("a", { href: `#/jobs/${encodeURIComponent(job.jobId)}` }, job.jobId),
          statusBadge(job.status),
          job.sync.mode,
          formatNumber(job.progress.records),
          formatNumber(job.progress.rowsLoaded),
          formatNumber(job.progress.requests),
          new Date(job.createdAt).toLocaleString(),
        ])));
    const running = mine.find((job) => ["queued", "syncing"].includes(job.status));
    if (running) {
      follow(running.jobId);
    }
  } catch (error) {
    showProblem(recent, error);
  }

  await budget.refresh();
  return () => cleanups.forEach((stop) => stop());
}

/** One sync's live state: counts, its share of the budget and its pace over time, until it ends. */
function followSync(api, jobId, container, budget) {
  const state = h("div", { role: "status", "aria-live": "polite" });
  const progress = props(h("progress", { "aria-label": "Records read of the expected total" }), {});
  const details = h("div");
  const pace = h("div", { class: "chart-box" });
  container.replaceChildren(
    h("h3", {}, "Sync ", h("a", { href: `#/jobs/${encodeURIComponent(jobId)}` }, jobId)),
    state, progress, details,
    h("h4", {}, "Requests made, per sample while this page watched"), pace);

  const samples = [];
  let lastRequests = null;
  budget.startPolling();
  const stop = watchJob(api, jobId, (job) => {
    const p = job.progress || {};
    state.replaceChildren("Status: ", statusBadge(job.status));
    if (p.expectedTotal) {
      progress.max = p.expectedTotal;
      progress.value = Math.min(p.records, p.expectedTotal);
    } else if (job.status === "synced") {
      progress.max = 1;
      progress.value = 1;
    }
    const rows = [
      ["Records read", formatNumber(p.records)],
      ["Rows loaded", formatNumber(p.rowsLoaded)],
      ["Duplicates", formatNumber(p.duplicates)],
      ["Rejected", formatNumber(p.rejects)],
      ["Requests", formatNumber(p.requests)],
      ["429 answers", formatNumber(p.http429)],
      ["Share of the budget used", `${Math.round((p.budgetShare || 0) * 100)} %`],
      ["Expected total", p.expectedTotal ? formatNumber(p.expectedTotal) : null],
      ["Expected end", p.eta ? new Date(p.eta).toLocaleTimeString() : null],
    ];
    if (job.reconciliation) {
      const r = job.reconciliation;
      rows.push(["Reconciliation", `expected ${r.expected ?? "unknown"}, loaded ${r.distinctKeysLoaded}, duplicates ${r.duplicates}, rejected ${r.rejects}, difference ${r.difference ?? "unknown"}`]);
    }
    if (job.error) {
      rows.push(["Error", `${job.error.code}: ${job.error.message}`]);
    }
    details.replaceChildren(facts(rows));

    if (lastRequests !== null) {
      samples.push({ label: new Date(job.updatedAt).toLocaleTimeString(), value: Math.max(0, (p.requests || 0) - lastRequests) });
      if (samples.length > MAX_SAMPLES) {
        samples.shift();
      }
      pace.replaceChildren(barChart(`Requests of sync ${jobId} between progress events`, samples));
    }
    lastRequests = p.requests || 0;

    if (["synced", "failed", "cancelled"].includes(job.status)) {
      budget.stopPolling();
      budget.refresh();
    }
  });
  return () => {
    stop();
    budget.stopPolling();
  };
}

/** Every slot of the window, empty ones included (the API leaves them out), so the chart's x axis is time. */
function slots(view) {
  const slotMs = view.slotSeconds * 1000;
  const end = new Date(view.at).getTime();
  const counts = new Map(view.grants.map((g) => [new Date(g.at).getTime(), g.requests]));
  const bars = [];
  for (let at = Math.floor((end - view.windowSeconds * 1000) / slotMs) * slotMs; at <= end; at += slotMs) {
    bars.push({ label: new Date(at).toLocaleTimeString(), value: counts.get(at) || 0 });
  }
  return bars;
}

/** The credential's budget: each policy's use now, a block the upstream asked for, and grants per slot. */
function budgetPanel(api, path) {
  const body = h("div", { class: "budget", "aria-live": "polite" });
  const problems = h("div", { class: "problems" });
  const refreshButton = h("button", { type: "button", class: "secondary" }, "Refresh");
  const section = h("section", { "aria-labelledby": "source-budget" },
    h("h2", { id: "source-budget" }, "Rate budget"),
    h("p", {}, "Requests granted on this credential by every worker (and every source sharing it), over the budget's longest window."),
    refreshButton, problems, body);
  let timer = null;

  async function refresh() {
    try {
      const view = await api.get(`${path}/budget`);
      problems.replaceChildren();
      const policies = view.policies.map((p) => h("li", {},
        h("label", {}, `${p.requests} per ${p.perSeconds} s (${p.origin}): ${p.used} used `,
          props(h("meter", { min: "0" }), { max: p.requests, value: Math.min(p.used, p.requests), high: p.requests * 0.8 }))));
      const bars = slots(view);
      // The tightest policy's allowance per slot, drawn as the line the bars may not cross on average.
      const tightest = view.policies.length > 0 ? Math.min(...view.policies.map((p) => p.requests / p.perSeconds)) : 0;
      body.replaceChildren(
        view.blockedUntil && new Date(view.blockedUntil) > new Date(view.at)
          ? h("p", { class: "warning" }, `The upstream asked for no request before ${new Date(view.blockedUntil).toLocaleTimeString()}.`)
          : h("p", {}, "Not blocked by the upstream."),
        policies.length > 0 ? h("ul", { class: "policies" }, ...policies) : h("p", {}, "No policy declared or learnt."),
        h("p", {}, `Requests per ${view.slotSeconds} s over the last ${view.windowSeconds} s:`),
        barChart(`Requests granted per ${view.slotSeconds} s, last ${view.windowSeconds} s`, bars, tightest * view.slotSeconds));
    } catch (error) {
      showProblem(problems, error);
    }
  }

  on(refreshButton, { click: refresh });
  return {
    section,
    refresh,
    startPolling() {
      if (timer === null) {
        timer = setInterval(refresh, BUDGET_POLL_MS);
      }
    },
    stopPolling() {
      if (timer !== null) {
        clearInterval(timer);
        timer = null;
      }
    },
    stop() {
      if (timer !== null) {
        clearInterval(timer);
        timer = null;
      }
    },
  };
}
