// #/datasets/{name}: a dataset's definition, its rows a page at a time through the read API
// (keyset cursors: a page costs the same at row 10 as at row 10 million), and its CSV export.
import { field, h, showProblem, table } from "../ui.js";
import { facts } from "./parts.js";

export async function render(main, { api, params }) {
  const name = params.name;
  const path = `/v1/datasets/${encodeURIComponent(name)}`;
  const problem = h("div");
  main.append(h("h1", null, `Dataset ${name}`), problem);

  let dataset;
  try {
    dataset = await api.get(path);
  } catch (error) {
    showProblem(problem, error);
    return;
  }

  main.append(h("section", { "aria-labelledby": "dataset-definition" },
    h("h2", { id: "dataset-definition" }, "Definition"),
    facts([
      ["Columns", dataset.columns.map((c) => `${c.name} ${c.type}${c.required ? " (required)" : ""}`).join(", ")],
      ["Key", dataset.key.length > 0 ? dataset.key.join(", ") : "none"],
      ["On key conflict", dataset.onKeyConflict],
      ["Unknown columns", dataset.ignoreUnknownColumns ? "ignored" : "refused"],
      ["Reject limits", `${dataset.maxRejectedRows ?? "no row limit"}, ${dataset.maxRejectedRatio ?? "no share limit"}`],
      ["Table", dataset.table],
    ]),
    h("p", { class: "actions" },
      h("a", { class: "button", href: `#/upload?dataset=${encodeURIComponent(name)}` }, "Upload a CSV"),
      // Same origin, so the session cookie goes with it; the server streams the export from PostgreSQL's COPY.
      h("a", { class: "button", href: `${path}/rows.csv`, download: `${name}.csv` }, "Export as CSV"))));

  const limit = h("select", { name: "limit" }, ["25", "50", "100", "500"].map((size) => h("option", { value: size }, size)));
  limit.value = "50";
  const first = h("button", { type: "button", class: "secondary" }, "First page");
  const previous = h("button", { type: "button", class: "secondary" }, "Previous page");
  const next = h("button", { type: "button" }, "Next page");
  const status = h("p", { class: "page-status", role: "status" });
  const rows = h("div", { class: "rows" });
  const problems = h("div", { class: "problems" });
  main.append(h("section", { "aria-labelledby": "dataset-rows" },
    h("h2", { id: "dataset-rows" }, "Rows"),
    h("div", { class: "toolbar" }, field("Rows a page", limit), first, previous, next),
    status, problems, rows));

  // The cursors that led to the pages before this one: the API's cursors only go forward, so
  // going back reads a page again from the cursor that led to it.
  const behind = [];
  let here = null;
  let ahead = null;
  const columns = dataset.columns.map((c) => ({ label: c.name, value: (row) => (row[c.name] === null ? "" : String(row[c.name])) }));

  async function load(cursor) {
    problems.replaceChildren();
    for (const button of [first, previous, next]) button.disabled = true;
    const query = new URLSearchParams({ limit: limit.value });
    if (cursor) query.set("cursor", cursor);
    try {
      // Pages may be reused for Reads:CacheMaxAge; no-cache revalidates (a 304 by ETag), so a load that just committed shows.
      const page = await api.get(`${path}/rows?${query}`, { headers: { "Cache-Control": "no-cache" } });
      here = cursor;
      ahead = page.nextCursor ?? null;
      rows.replaceChildren(table(columns, page.rows, { caption: `Rows of ${name}, page ${behind.length + 1}`, empty: "No rows." }));
      status.textContent = `Page ${behind.length + 1}: ${page.rows.length} rows${ahead ? ", more follow." : ", the last page."}`;
    } catch (error) {
      showProblem(problems, error);
    } finally {
      first.disabled = behind.length === 0;
      previous.disabled = behind.length === 0;
      next.disabled = !ahead;
    }
  }

  next.addEventListener("click", () => {
    behind.push(here);
    load(ahead);
  });
  previous.addEventListener("click", () => load(behind.pop()));
  const restart = () => {
    behind.length = 0;
    load(null);
  };
  first.addEventListener("click", restart);
  limit.addEventListener("change", restart);
  await load(null);
}
