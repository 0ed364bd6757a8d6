// #/datasets/{name}: a dataset's definition, its rows a page at a time through the read API
// (keyset cursors: a page costs the same at row 10 as at row 10 million), and its CSV export.
import { h, showProblem } from "../ui.js";
import { facts, field, grid, on, props } from "./parts.js";

const PAGE_SIZES = ["25", "50", "100", "500"];

export async function render(main, ctx) {
  const { api, params } = ctx;
  const name = params.name;
  const path = `/v1/datasets/${encodeURIComponent(name)}`;
  main.append(h("h1", {}, `Dataset ${name}`));

  let dataset;
  try {
    dataset = await api.get(path);
  } catch (error) {
    showProblem(main, error);
    return undefined;
  }

  main.append(
    h("section", { "aria-labelledby": "dataset-definition" },
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
        // Same origin, so the session cookie goes with the download; the CSV is streamed by the server.
        h("a", { class: "button", href: `${path}/rows.csv`, download: `${name}.csv` }, "Export as CSV"))));

  const rowsSection = h("section", { "aria-labelledby": "dataset-rows" }, h("h2", { id: "dataset-rows" }, "Rows"));
  main.append(rowsSection);

  const limit = h("select", { name: "limit" }, ...PAGE_SIZES.map((size) => h("option", { value: size }, size)));
  props(limit, { value: "50" });
  const status = h("p", { class: "page-status", role: "status", "aria-live": "polite" });
  const first = h("button", { type: "button", class: "secondary" }, "First page");
  const previous = h("button", { type: "button", class: "secondary" }, "Previous page");
  const next = h("button", { type: "button" }, "Next page");
  const table = h("div", { class: "rows" });
  const problems = h("div", { class: "problems" });
  rowsSection.append(h("div", { class: "toolbar" }, field("Rows a page", limit), first, previous, next), status, problems, table);

  // Cursors of the pages before this one: the API's cursors go forward only, so going back
  // re-reads a page from the cursor that led to it.
  const cursors = [];
  let current = null;
  let nextCursor = null;

  async function load(cursor) {
    problems.replaceChildren();
    const query = new URLSearchParams({ limit: limit.value });
    if (cursor) {
      query.set("cursor", cursor);
    }
    for (const button of [first, previous, next]) {
      button.disabled = true;
    }
    try {
      const page = await api.get(`${path}/rows?${query}`);
      current = cursor;
      nextCursor = page.nextCursor ?? null;
      const columns = dataset.columns.map((c) => c.name);
      table.replaceChildren(page.rows.length === 0
        ? h("p", {}, "No rows on this page.")
        : grid(`Rows of ${name}, page ${cursors.length + 1}`, columns,
          page.rows.map((row) => columns.map((c) => (row[c] === null || row[c] === undefined ? "" : String(row[c]))))));
      status.textContent = `Page ${cursors.length + 1}: ${page.rows.length} rows${nextCursor ? ", more follow" : ", the last page"}.`;
    } catch (error) {
      showProblem(problems, error);
    } finally {
      first.disabled = cursors.length === 0;
      previous.disabled = cursors.length === 0;
      next.disabled = !nextCursor;
    }
  }

  on(next, {
    click: () => {
      cursors.push(current);
      load(nextCursor);
    },
  });
  on(previous, { click: () => load(cursors.pop()) });
  on(first, {
    click: () => {
      cursors.length = 0;
      load(null);
    },
  });
  on(limit, {
    change: () => {
      cursors.length = 0;
      load(null);
    },
  });
  await load(null);
  return undefined;
}
