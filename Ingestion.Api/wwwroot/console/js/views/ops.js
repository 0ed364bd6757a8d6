// #/ops (operator keys only): failed jobs grouped by cause, retried a group or all at once and
// followed until they end, or archived; dead-lettered messages with their fault headers,
// redelivered one or a whole queue.
import { formatNumber, h, showProblem } from "../ui.js";
import { actionButton, facts, grid, isFinal, statusBadge } from "./parts.js";

/** Retried jobs are followed by polling (not one SSE stream each: a browser holds six connections per origin). */
const FOLLOW_POLL_MS = 1500;
const FOLLOW_MAX = 50;

export async function render(main, ctx) {
  const { api, session } = ctx;
  main.append(h("h1", {}, "Operations"));
  if (!session.isOps) {
    main.append(h("p", { role: "alert" }, "This page needs an operator key: sign in with one to see failures and dead letters."));
    return undefined;
  }

  const followed = h("section", { "aria-labelledby": "ops-retried", hidden: "" }, h("h2", { id: "ops-retried" }, "Retried jobs"));
  const failures = h("section", { "aria-labelledby": "ops-failures" }, h("h2", { id: "ops-failures" }, "Failed jobs by cause"));
  const deadLetters = h("section", { "aria-labelledby": "ops-dead-letters" }, h("h2", { id: "ops-dead-letters" }, "Dead letters"));
  main.append(followed, failures, deadLetters);

  const follower = followJobs(api, followed);
  const reload = async () => {
    await Promise.all([showFailures(api, failures, follower, reload), showDeadLetters(api, deadLetters, reload)]);
  };
  await reload();
  return () => follower.stop();
}

async function showFailures(api, section, follower, reload) {
  const body = h("div");
  const problems = h("div", { class: "problems" });
  section.replaceChildren(section.firstChild, problems, body);
  let view;
  try {
    view = await api.get("/v1/ops/failures?jobsPerGroup=5");
  } catch (error) {
    showProblem(problems, error);
    return;
  }

  if (view.groups.length === 0) {
    body.append(h("p", {}, "No failed jobs."));
    return;
  }

  const retried = (result) => {
    follower.add(result.jobIds);
    return reload();
  };
  body.append(
    h("p", { class: "actions" }, `${formatNumber(view.failedJobs)} failed jobs in ${view.groups.length} groups. `,
      actionButton("Retry every failed job", problems, async () => retried(await api.post("/v1/ops/failures/retry", {})))),
    ...view.groups.map((group) => {
      const groupProblems = h("div", { class: "problems" });
      const heading = `${group.kind}: ${group.code}`;
      return h("article", { class: "failure-group", "data-group": group.groupId, "aria-label": heading },
        h("h3", {}, heading),
        h("p", { class: "message" }, group.message),
        facts([
          ["Jobs", formatNumber(group.count)],
          ["First seen", new Date(group.firstSeen).toLocaleString()],
          ["Last seen", new Date(group.lastSeen).toLocaleString()],
          ["Tenants", group.tenants.join(", ")],
        ]),
        grid(`Latest failures of ${heading}`, ["Job", "Tenant", "Dataset", "Failed", "Message"],
          group.jobs.map((job) => [
            h("a", { href: `#/jobs/${encodeURIComponent(job.jobId)}` }, job.jobId),
            job.tenantId, job.dataset ?? "", new Date(job.failedAt).toLocaleString(), job.message,
          ])),
        h("p", { class: "actions" },
          actionButton(`Retry ${group.count} jobs`, groupProblems,
            async () => retried(await api.post(`/v1/ops/failures/${encodeURIComponent(group.groupId)}/retry`, {})),
            { "aria-label": `Retry the ${group.count} jobs of ${heading}` }),
          actionButton("Archive", groupProblems, async () => {
            await api.post(`/v1/ops/failures/${encodeURIComponent(group.groupId)}/archive`, {});
            await reload();
          }, { class: "secondary", "aria-label": `Archive the jobs of ${heading} without retrying` })),
        groupProblems);
    }));
}

async function showDeadLetters(api, section, reload) {
  const body = h("div");
  const problems = h("div", { class: "problems" });
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
    body.append(h("p", {}, "No dead-lettered messages."));
    return;
  }

  body.append(...queues.map((queue) => {
    const queueProblems = h("div", { class: "problems" });
    const path = `/v1/ops/dead-letters/${encodeURIComponent(queue.queue)}`;
    return h("article", { class: "dead-letter-queue", "aria-label": queue.queue },
      h("h3", {}, `${queue.queue} (${formatNumber(queue.messages)} messages)`),
      h("p", { class: "actions" },
        actionButton(`Redeliver all to ${queue.originalQueue}`, queueProblems, async () => {
          await api.post(`${path}/redeliver`, {});
          await reload();
        })),
      queueProblems,
      grid(`Messages of ${queue.queue}`, ["Message", "Type", "Job", "Exception", "Consumer", "Faulted", "Redelivered", ""],
        queue.items.map((item) => [
          item.messageId,
          item.messageType,
          item.jobId ? h("a", { href: `#/jobs/${encodeURIComponent(item.jobId)}` }, item.jobId) : "",
          h("span", {}, h("strong", {}, item.exceptionType ?? ""), h("br"), item.exceptionMessage ?? ""),
          item.consumerType ?? "",
          item.faultedAt ? new Date(item.faultedAt).toLocaleString() : "",
          item.redeliveredTimes ? String(item.redeliveredTimes) : "never",
          actionButton("Redeliver", queueProblems, async () => {
            await api.post(`${path}/${encodeURIComponent(item.messageId)}/redeliver`, {});
            await reload();
          }, { "aria-label": `Redeliver message ${item.messageId}` }),
        ])));
  }));
}

/** Follows retried jobs until each ends: the list an operator watches after pressing Retry. */
function followJobs(api, section) {
  const jobs = new Map();
  const list = h("div");
  const summary = h("p", { role: "status", "aria-live": "polite" });
  section.append(summary, list);
  let timer = null;

  function draw() {
    const all = [...jobs.values()];
    const done = all.filter((job) => job && isFinal(job.status));
    summary.textContent = `${done.length} of ${all.length} retried jobs finished` +
      `${done.length === all.length ? `: ${done.filter((j) => j.status === "completed" || j.status === "ready" || j.status === "synced").length} succeeded.` : "."}`;
    list.replaceChildren(grid("Retried jobs", ["Job", "Kind", "Status", "Updated"],
      [...jobs.entries()].map(([id, job]) => [
        h("a", { href: `#/jobs/${encodeURIComponent(id)}` }, id),
        job ? job.kind : "",
        job ? statusBadge(job.status) : "…",
        job ? new Date(job.updatedAt).toLocaleTimeString() : "",
      ])));
  }

  async function poll() {
    const pending = [...jobs.entries()].filter(([, job]) => !job || !isFinal(job.status)).map(([id]) => id);
    await Promise.all(pending.map(async (id) => {
      try {
        jobs.set(id, await api.get(`/v1/jobs/${encodeURIComponent(id)}`));
      } catch (error) {
        showProblem(list, error);
      }
    }));
    draw();
    if (pending.length === 0 && timer !== null) {
      clearInterval(timer);
      timer = null;
    }
  }

  return {
    add(ids) {
      section.hidden = false;
      for (const id of ids.slice(0, FOLLOW_MAX)) {
        // A job retried again is followed from its new attempt.
        jobs.set(id, null);
      }
      draw();
      if (timer === null) {
        timer = setInterval(poll, FOLLOW_POLL_MS);
      }
      poll();
    },
    stop() {
      if (timer !== null) {
        clearInterval(timer);
        timer = null;
      }
    },
  };
}
