// #/sources/{name}: a source, its recent syncs, starting a sync, and watching it run with its
// use of the rate budget over time. Two views of the budget: the credential's grants per time
// slot from GET /v1/sources/{name}/budget (every worker's and every source's on that credential,
// as far back as the budget's longest window), and the sync's own requests between its progress
// events while this page watches.
import { field, formatNumber, formatTime, h, showProblem, statusBadge, table } from "../ui.js";
import { barChart, callsOf, facts, isFinal, showFieldErrors, watchJob } from "./parts.js";

/** How often the budget is read while a sync runs (one indexed read of a small table). */
const BUDGET_POLL_MS = 2000;

/** Pace samples kept for the chart. */
const MAX_SAMPLES = 120;

export async function render(main, { api, params }) {
  const name = params.name;
  const path = `/v1/sources/${encodeURIComponent(name)}`;
  const problem = h("div");
  main.append(h("h1", null, `Source ${name}`), problem);

  let source;
  try {
    source = await api.get(path);
  } catch (error) {
    showProblem(problem, error);
    return undefined;
  }

  const auth = source.auth;
  main.append(h("section", { "aria-labelledby": "source-definition" },
    h("h2", { id: "source-definition" }, "Definition"),
    facts([
      ["Into dataset", h("a", { href: `#/datasets/${encodeURIComponent(source.dataset)}` }, source.dataset)],
      ["Calls", callsOf(source.request)],
      ["Credential", auth
        ? `${auth.in} ${auth.name}, ${auth.secretUnreadable ? "secret unreadable: send it again" : auth.hasSecret ? "secret stored" : "no secret"}`
        : "none"],
      ["Pages", `${source.pagination.style}${source.pagination.pageSize ? `, ${source.pagination.pageSize} a page` : ""}`],
      ["Rate limit", source.rateLimit.policies.map((p) => `${p.requests} per ${p.perSeconds} s`).join(", ") || "none declared"],
      ["Incremental", source.incremental ? `on ${source.incremental.column}` : "no"],
      ["Schedule", source.schedule ? `every ${source.schedule.everyMinutes} min, ${source.schedule.mode}` : "on demand"],
    ])));

  const budget = budgetPanel(api, path);
  const mode = h("select", { name: "mode" },
    h("option", { value: "full" }, "full"),
    source.incremental ? h("option", { value: "incremental" }, "incremental: from the dataset's high-water mark") : null);
  const submit = h("button", { type: "submit" }, "Start a sync");
  const problems = h("div", { class: "problems" });
  const form = h("form", { class: "stack" }, field("Mode", mode), submit, problems);
  const run = h("div", { class: "sync-run" });
  const recent = h("section", { "aria-labelledby": "source-recent" }, h("h2", { id: "source-recent" }, "Recent syncs"));
  main.append(h("section", { "aria-labelledby": "source-sync" }, h("h2", { id: "source-sync" }, "Sync"), form, run), budget.section, recent);

  let stopRun = () => {};
  const follow = (jobId) => {
    stopRun();
    stopRun = followSync(api, jobId, run, budget, () => showRecent());
  };
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    problems.replaceChildren();
    submit.disabled = true;
    try {
      follow((await api.post(`${path}/syncs`, { mode: mode.value })).jobId);
    } catch (error) {
      showFieldErrors(problems, error);
    } finally {
      submit.disabled = false;
    }
  });

  // The jobs API filters by dataset; the source is the sync's own field.
  const showRecent = async () => {
    try {
      const page = await api.get(`/v1/jobs?kind=sync&dataset=${encodeURIComponent(source.dataset)}&limit=20`);
      const mine = page.items.filter((job) => job.sync?.source === name);
      recent.replaceChildren(recent.firstChild, table([
        { label: "Job", value: (job) => h("a", { href: `#/jobs/${encodeURIComponent(job.jobId)}` }, job.jobId) },
        { label: "Status", value: (job) => statusBadge(job.status) },
        { label: "Mode", value: (job) => job.sync.mode },
        { label: "Records", value: (job) => formatNumber(job.progress?.records) },
        { label: "Rows loaded", value: (job) => formatNumber(job.progress?.rowsLoaded) },
        { label: "Requests", value: (job) => formatNumber(job.progress?.requests) },
        { label: "Created", value: (job) => formatTime(job.createdAt) },
      ], mine, { caption: `Recent syncs of ${name}`, empty: "This source has not been synced yet." }));
      return mine;
    } catch (error) {
      showProblem(recent, error);
      return [];
    }
  };
  const running = (await showRecent()).find((job) => !isFinal(job.status));
  if (running) follow(running.jobId);

  await budget.refresh();
  return () => {
    stopRun();
    budget.stopPolling();
  };
}

/** One sync's live state: counts, its share of the budget and its pace over time, until it ends. */
function followSync(api, jobId, container, budget, onEnd) {
  const state = h("p", { role: "status" });
  const progress = h("progress", { "aria-label": "Records read of the expected total" });
  const details = h("div");
  const pace = h("div", { class: "chart-box" });
  container.replaceChildren(
    h("h3", null, "Sync ", h("a", { href: `#/jobs/${encodeURIComponent(jobId)}` }, jobId)),
    state, progress, details,
    h("h4", null, "Requests between progress events, while this page watched"), pace);

  const samples = [];
  let lastRequests = null;
  budget.startPolling();
  const stop = watchJob(api, jobId, (job) => {
    const p = job.progress ?? {};
    state.replaceChildren("Status: ", statusBadge(job.status));
    if (p.expectedTotal) {
      progress.max = p.expectedTotal;
      progress.value = Math.min(p.records, p.expectedTotal);
    } else if (job.status === "synced") {
      progress.max = 1;
      progress.value = 1;
    }
    const r = job.reconciliation;
    details.replaceChildren(facts([
      ["Records read", formatNumber(p.records)],
      ["Rows loaded", formatNumber(p.rowsLoaded)],
      ["Duplicates", formatNumber(p.duplicates)],
      ["Rejected", formatNumber(p.rejects)],
      ["Requests", formatNumber(p.requests)],
      ["429 answers", formatNumber(p.http429)],
      ["Share of the budget used", `${Math.round((p.budgetShare ?? 0) * 100)} %`],
      ["Expected total", p.expectedTotal ? formatNumber(p.expectedTotal) : null],
      ["Expected end", p.eta ? formatTime(p.eta) : null],
      ...(r ? [["Reconciliation", `expected ${r.expected ?? "unknown"}, loaded ${r.distinctKeysLoaded}, duplicates ${r.duplicates}, rejected ${r.rejects}, difference ${r.difference ?? "unknown"}`]] : []),
      ...(job.error ? [["Error", `${job.error.code}: ${job.error.message}`]] : []),
    ]));

    if (lastRequests !== null) {
      samples.push({ label: new Date(job.updatedAt).toLocaleTimeString(), value: Math.max(0, (p.requests ?? 0) - lastRequests) });
      if (samples.length > MAX_SAMPLES) samples.shift();
      pace.replaceChildren(barChart(`Requests of sync ${jobId} between its progress events`, samples));
    }
    lastRequests = p.requests ?? 0;

    if (isFinal(job.status)) {
      budget.stopPolling();
      budget.refresh();
      onEnd();
    }
  });
  return () => {
    stop();
    budget.stopPolling();
  };
}

/** Every slot of the window, empty ones included (the API leaves them out), so the x axis is time. */
function slots(view) {
  const slotMs = view.slotSeconds * 1000;
  const end = Date.parse(view.at);
  const counts = new Map(view.grants.map((g) => [Date.parse(g.at), g.requests]));
  const bars = [];
  for (let at = Math.floor((end - view.windowSeconds * 1000) / slotMs) * slotMs; at <= end; at += slotMs) {
    bars.push({ label: new Date(at).toLocaleTimeString(), value: counts.get(at) ?? 0 });
  }
  return bars;
}

/** The credential's budget: each policy's use now, a block the upstream asked for, and grants per slot. */
function budgetPanel(api, path) {
  const body = h("div", { class: "budget" });
  const problems = h("div", { class: "problems" });
  let timer = null;

  async function refresh() {
    try {
      const view = await api.get(`${path}/budget`);
      problems.replaceChildren();
      // The tightest policy's pace, as requests per slot: the line the bars should stay under on average.
      const pace = view.policies.length > 0 ? Math.min(...view.policies.map((p) => p.requests / p.perSeconds)) * view.slotSeconds : 0;
      // Wrapped in h(), which leaves out the parts that are null.
      body.replaceChildren(h("div", null,
        view.blockedUntil && Date.parse(view.blockedUntil) > Date.parse(view.at)
          ? h("p", { class: "warning" }, `The upstream asked for no request before ${formatTime(view.blockedUntil)}.`)
          : null,
        view.policies.length === 0 ? h("p", null, "No policy declared or learnt.") : h("ul", { class: "policies" },
          view.policies.map((p) => h("li", { "data-policy": `${p.requests}/${p.perSeconds}` },
            h("span", null, `${p.requests} per ${p.perSeconds} s (${p.origin}): `),
            h("strong", { class: "used" }, `${p.used} used`), " ",
            h("meter", { min: "0", max: String(p.requests), value: String(Math.min(p.used, p.requests)), high: String(p.requests * 0.8),
              "aria-label": `${p.used} of ${p.requests} requests in the last ${p.perSeconds} s` })))),
        barChart(`Requests granted per ${view.slotSeconds} s over the last ${view.windowSeconds} s`, slots(view), pace)));
    } catch (error) {
      showProblem(problems, error);
    }
  }

  const section = h("section", { "aria-labelledby": "source-budget" },
    h("h2", { id: "source-budget" }, "Rate budget"),
    h("p", { class: "hint" }, "Requests granted on this source's credential by every worker (and any source sharing it), over the budget's longest window; the dashed line is the tightest policy's pace."),
    h("button", { type: "button", class: "secondary", onclick: refresh }, "Refresh"),
    problems, body);

  return {
    section,
    refresh,
    startPolling() {
      timer ??= setInterval(refresh, BUDGET_POLL_MS);
    },
    stopPolling() {
      clearInterval(timer);
      timer = null;
    },
  };
}
