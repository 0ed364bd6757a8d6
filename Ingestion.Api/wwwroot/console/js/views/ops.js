// #/ops (operator keys only): failed jobs grouped by cause, retried a group or all at once and
// followed until they end, or archived; dead-lettered messages with their fault headers,
// redelivered one at a time or a whole queue; jobs that stopped moving and what the reaper re-drove.
import { formatNumber, formatTime, h, showProblem, statusBadge, table } from "../ui.js";
import { actionButton, facts, isFinal, succeeded } from "./parts.js";

/** Retried jobs are followed by polling, not one SSE stream each: a browser keeps six connections per origin. */
const FOLLOW_POLL_MS = 1500;
const FOLLOW_MAX = 50;

export async function render(main, { api, session }) {
  main.append(h("h1", null, "Operations"));
  if (!session.isOps) {
    main.append(h("p", { role: "alert" }, "This page needs an operator key: sign in with one to see failures and dead letters."));
    return undefined;
  }

  const retried = h("section", { "aria-labelledby": "ops-retried", hidden: true }, h("h2", { id: "ops-retried" }, "Retried jobs"));
  const failures = h("section", { "aria-labelledby": "ops-failures" }, h("h2", { id: "ops-failures" }, "Failed jobs by cause"));
  const deadLetters = h("section", { "aria-labelledby": "ops-dead-letters" }, h("h2", { id: "ops-dead-letters" }, "Dead letters"));
  const stalled = h("section", { "aria-labelledby": "ops-stalled" }, h("h2", { id: "ops-stalled" }, "Stalled jobs and the reaper"));
  for (const section of [failures, deadLetters, stalled]) section.append(h("p", { class: "loading" }, "Loading…"));
  main.append(retried, failures, deadLetters, stalled);

  // When every retried job has ended, the lists are read again: the groups they left are gone.
  const follower = followJobs(api, retried, () => reload());
  const reload = () => Promise.all([
    showFailures(api, failures, follower, reload),
    showDeadLetters(api, deadLetters, reload),
    showStalled(api, stalled),
  ]);
  await reload();
  return () => follower.stop();
}

/** Actions on many jobs or messages at once ask first; one group's retry, the common case, does not. */
function confirmed(question) {
  return window.confirm(question);
}

/** "1 group", "3 groups". */
function count(n, noun) {
  return `${formatNumber(n)} ${noun}${n === 1 ? "" : "s"}`;
}

async function showFailures(api, section, follower, reload) {
  const problems = h("div", { class: "problems" });
  const body = h("div");
  section.replaceChildren(section.firstChild, problems, body);
  let view;
  try {
    view = await api.get("/v1/ops/failures?jobsPerGroup=5");
  } catch (error) {
    showProblem(problems, error);
    return;
  }
  if (view.groups.length === 0) {
    body.append(h("p", { class: "empty" }, "No failed jobs."));
    return;
  }

  const retry = async (path) => {
    const result = await api.post(path);
    follower.add(result.jobIds);
    await reload();
  };
  body.append(
    h("p", { class: "actions" }, `${count(view.failedJobs, "failed job")} in ${count(view.groups.length, "group")}. `,
      actionButton("Retry every failed job", problems, () => confirmed(`Retry all ${count(view.failedJobs, "failed job")}, whatever their cause?`)
        && retry("/v1/ops/failures/retry"))),
    ...view.groups.map((group) => {
      const groupProblems = h("div", { class: "problems" });
      const name = `${group.kind}: ${group.code}`;
      const path = `/v1/ops/failures/${encodeURIComponent(group.groupId)}`;
      return h("article", { class: "failure-group", "data-group": group.groupId, "aria-label": `${name}, ${group.message}` },
        h("h3", null, name),
        h("p", { class: "message" }, group.message),
        facts([
          ["Jobs", formatNumber(group.count)],
          ["First seen", formatTime(group.firstSeen)],
          ["Last seen", formatTime(group.lastSeen)],
          ["Tenants", group.tenants.join(", ")],
        ]),
        table([
          { label: "Job", value: (job) => h("a", { href: `#/jobs/${encodeURIComponent(job.jobId)}` }, job.jobId) },
          { label: "Tenant", value: (job) => job.tenantId },
          { label: "Dataset", value: (job) => job.dataset ?? "–" },
          { label: "Failed", value: (job) => formatTime(job.failedAt) },
          { label: "Message", value: (job) => job.message },
        ], group.jobs, { caption: `Latest failures of ${name}` }),
        h("p", { class: "actions" },
          actionButton(`Retry ${count(group.count, "job")}`, groupProblems, () => retry(`${path}/retry`),
            { "aria-label": `Retry ${count(group.count, "job")} of ${name}` }),
          actionButton("Archive", groupProblems, async () => {
            if (!confirmed(`Archive ${count(group.count, "job")} of ${name} without retrying them?`)) return;
            await api.post(`${path}/archive`);
            await reload();
          }, { class: "secondary", "aria-label": `Archive the jobs of ${name} without retrying them` })),
        groupProblems);
    }));
}

async function showDeadLetters(api, section, reload) {
  const problems = h("div", { class: "problems" });
  const body = h("div");
  section.replaceChildren(section.firstChild, problems, body);
  let view;
  try {
    view = await api.get("/v1/ops/dead-letters?limit=20");
  } catch (error) {
    showProblem(problems, error);
    return;
  }
  const queues = view.queues.filter((queue) => queue.messages > 0);
  if (queues.length === 0) {
    body.append(h("p", { class: "empty" }, "No dead-lettered messages."));
    return;
  }

  body.append(...queues.map((queue) => {
    const queueProblems = h("div", { class: "problems" });
    const path = `/v1/ops/dead-letters/${encodeURIComponent(queue.queue)}`;
    const redeliver = async (target) => {
      await api.post(target);
      await reload();
    };
    return h("article", { class: "dead-letter-queue", "aria-label": queue.queue },
      h("h3", null, `${queue.queue}: ${count(queue.messages, "message")}`),
      h("p", { class: "actions" },
        actionButton(`Redeliver all to ${queue.originalQueue}`, queueProblems,
          () => confirmed(`Send all ${count(queue.messages, "message")} of ${queue.queue} back to ${queue.originalQueue}?`) && redeliver(`${path}/redeliver`))),
      queueProblems,
      table([
        { label: "Message", value: (m) => m.messageId },
        { label: "Type", value: (m) => m.messageType },
        { label: "Job", value: (m) => (m.jobId ? h("a", { href: `#/jobs/${encodeURIComponent(m.jobId)}` }, m.jobId) : "–") },
        { label: "Exception", value: (m) => [h("strong", null, m.exceptionType ?? "–"), h("br", null), m.exceptionMessage ?? ""] },
        { label: "Consumer", value: (m) => m.consumerType ?? "–" },
        { label: "Input address", value: (m) => m.inputAddress ?? "–" },
        { label: "Faulted", value: (m) => formatTime(m.faultedAt) },
        { label: "Redelivered", value: (m) => (m.redeliveredTimes ? `${m.redeliveredTimes} times` : "never") },
        { label: "Action", value: (m) => actionButton("Redeliver", queueProblems, () => redeliver(`${path}/${encodeURIComponent(m.messageId)}/redeliver`),
          { "aria-label": `Redeliver message ${m.messageId}` }) },
      ], queue.items, { caption: `First messages of ${queue.queue}` }));
  }));
}

async function showStalled(api, section) {
  const problems = h("div", { class: "problems" });
  const body = h("div");
  section.replaceChildren(section.firstChild, problems, body);
  let view;
  try {
    view = await api.get("/v1/ops/stalled");
  } catch (error) {
    showProblem(problems, error);
    return;
  }
  const job = (item) => h("a", { href: `#/jobs/${encodeURIComponent(item.jobId)}` }, item.jobId);
  body.append(
    h("p", { class: "hint" }, `Unfinished jobs with no change or heartbeat for ${view.quietSeconds} s: the reaper sends their work again once no worker holds them.`),
    table([
      { label: "Job", value: job },
      { label: "Kind", value: (item) => item.kind },
      { label: "Tenant", value: (item) => item.tenantId },
      { label: "Status", value: (item) => statusBadge(item.status) },
      { label: "Last moved", value: (item) => formatTime(item.lastMoved) },
    ], view.stalled, { caption: "Stalled jobs", empty: "No job has stalled." }),
    table([
      { label: "Job", value: job },
      { label: "Re-driven", value: (item) => formatTime(item.at) },
      { label: "Sent again", value: (item) => item.what },
      { label: "Kind", value: (item) => item.kind ?? "–" },
      { label: "Tenant", value: (item) => item.tenantId ?? "–" },
      { label: "Status now", value: (item) => (item.status ? statusBadge(item.status) : "removed") },
    ], view.reaped, { caption: "Latest re-drives by the reaper", empty: "The reaper has re-driven no job." }));
}

/**
 * Where a retried job stands since its retry, from its audit trail: the API writes the RetryJob
 * action before it answers, so the transitions after the last one are this attempt's (the job's
 * own status still says "failed" until the state machine takes the retry up).
 */
async function sinceRetry(api, id) {
  const { events } = await api.get(`/v1/jobs/${encodeURIComponent(id)}/history`);
  const retry = events.findLastIndex((e) => e.type === "action" && e.what === "RetryJob");
  const last = events.slice(retry + 1).filter((e) => e.type === "transition").at(-1);
  return last ? { status: last.to.toLowerCase(), at: last.at } : { status: "retrying", at: events[retry]?.at };
}

/** Follows retried jobs until each ends: what an operator watches after pressing Retry. */
function followJobs(api, section, onAllEnded) {
  const jobs = new Map();
  const summary = h("p", { role: "status", class: "retried-summary" });
  const list = h("div");
  const problems = h("div", { class: "problems" });
  section.append(summary, problems, list);
  let timer = null;

  function draw() {
    const all = [...jobs.values()];
    const ended = all.filter((job) => job && isFinal(job.status));
    summary.textContent = ended.length === all.length
      ? `All ${all.length} retried jobs ended: ${ended.filter((job) => succeeded(job.status)).length} succeeded.`
      : `${ended.length} of ${all.length} retried jobs ended.`;
    list.replaceChildren(table([
      { label: "Job", value: ([id]) => h("a", { href: `#/jobs/${encodeURIComponent(id)}` }, id) },
      { label: "Status", value: ([, job]) => (job ? statusBadge(job.status) : "…") },
      { label: "Since", value: ([, job]) => (job ? formatTime(job.at) : "…") },
    ], [...jobs.entries()], { caption: "Retried jobs" }));
  }

  async function poll() {
    const pending = [...jobs.entries()].filter(([, job]) => !job || !isFinal(job.status)).map(([id]) => id);
    if (pending.length === 0) {
      clearInterval(timer);
      timer = null;
      onAllEnded();
      return;
    }
    await Promise.all(pending.map(async (id) => {
      try {
        jobs.set(id, await sinceRetry(api, id));
      } catch (error) {
        showProblem(problems, error);
      }
    }));
    draw();
  }

  return {
    add(ids) {
      section.hidden = false;
      // A job retried again is followed from its new attempt.
      for (const id of ids.slice(0, FOLLOW_MAX)) jobs.set(id, null);
      draw();
      timer ??= setInterval(poll, FOLLOW_POLL_MS);
      poll();
    },
    stop() {
      clearInterval(timer);
      timer = null;
    },
  };
}
