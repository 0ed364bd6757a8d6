// #/sources: the tenant's HTTP sources, and registering one. A source's definition has many
// optional parts (pagination, records, rate limit, incremental, partitions, schedule), so it is
// edited as the JSON the API takes, starting from a working example; the API's problem names
// every field that is wrong.
import { field, h, showProblem, table } from "../ui.js";
import { callsOf, showFieldErrors } from "./parts.js";

const EXAMPLE = {
  name: "events_api",
  dataset: "events",
  request: { baseUrl: "http://127.0.0.1:55690", path: "/v1/events" },
  auth: { in: "header", name: "Authorization", prefix: "Bearer ", secret: "sim-key" },
  pagination: { style: "cursor", cursorPath: "$.meta.next_cursor", cursorParameter: "cursor", hasMorePath: "$.meta.has_more", limitParameter: "limit", pageSize: 500 },
  records: {
    path: "$.data",
    totalPath: "$.meta.total",
    fields: { id: "$.id", type: "$.type", occurred_at: "$.timestamp", user_id: "$.user.id", session_id: "$.session_id", value: "$.value" },
  },
  rateLimit: { policies: [{ requests: 10, perSeconds: 60 }] },
};

export async function render(main, { api, navigate }) {
  const list = h("section", { "aria-labelledby": "sources-list" }, h("h2", { id: "sources-list" }, "Registered"));
  main.append(h("h1", null, "Sources"), list);
  try {
    const sources = await api.get("/v1/sources");
    list.append(table([
      { label: "Name", value: (s) => h("a", { href: `#/sources/${encodeURIComponent(s.name)}` }, s.name) },
      { label: "Into dataset", value: (s) => h("a", { href: `#/datasets/${encodeURIComponent(s.dataset)}` }, s.dataset) },
      { label: "Calls", value: (s) => callsOf(s.request) },
      { label: "Rate limit", value: (s) => s.rateLimit.policies.map((p) => `${p.requests} per ${p.perSeconds} s`).join(", ") || "none declared" },
      { label: "Schedule", value: (s) => (s.schedule ? `every ${s.schedule.everyMinutes} min, ${s.schedule.mode}` : "on demand") },
    ], sources, { caption: "Sources of this tenant", empty: "No sources yet: register one below." }));
  } catch (error) {
    showProblem(list, error);
  }

  const definition = h("textarea", { name: "definition", rows: "22", spellcheck: "false", class: "code", required: true,
    value: JSON.stringify(EXAMPLE, null, 2) });
  const submit = h("button", { type: "submit" }, "Register");
  const problems = h("div", { class: "problems" });
  const form = h("form", { class: "stack" },
    field("Definition (JSON)", definition,
      "As POST /v1/sources takes it: request, auth (the secret is write-only), pagination, records, rateLimit, incremental, partitions, schedule. README, Sources, says what each part may hold."),
    submit, problems);
  main.append(h("section", { "aria-labelledby": "sources-register" }, h("h2", { id: "sources-register" }, "Register a source"), form));

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    problems.replaceChildren();
    let body;
    try {
      body = JSON.parse(definition.value);
    } catch (error) {
      showProblem(problems, { title: "The definition is not JSON", detail: error.message });
      definition.focus();
      return;
    }
    submit.disabled = true;
    try {
      const created = await api.post("/v1/sources", body);
      navigate(`#/sources/${encodeURIComponent(created.name)}`);
    } catch (error) {
      showFieldErrors(problems, error);
    } finally {
      submit.disabled = false;
    }
  });
}
