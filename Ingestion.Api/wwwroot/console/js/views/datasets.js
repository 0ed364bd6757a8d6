// #/datasets: the tenant's datasets, and a form to register one (typed columns, key, policies).
import { field, h, showProblem, table } from "../ui.js";
import { showFieldErrors } from "./parts.js";

const TYPES = ["text", "varchar(200)", "char(3)", "integer", "bigint", "numeric(12,2)", "numeric", "boolean", "date", "timestamptz", "uuid"];
const NAME_PATTERN = "[a-z][a-z0-9_]*";

export async function render(main, { api, navigate }) {
  const list = h("section", { "aria-labelledby": "datasets-list" }, h("h2", { id: "datasets-list" }, "Registered"));
  const register = h("section", { "aria-labelledby": "datasets-register" }, h("h2", { id: "datasets-register" }, "Register a dataset"));
  main.append(h("h1", null, "Datasets"), list, register);

  try {
    const datasets = await api.get("/v1/datasets");
    list.append(table([
      { label: "Name", value: (d) => h("a", { href: `#/datasets/${encodeURIComponent(d.name)}` }, d.name) },
      { label: "Columns", value: (d) => d.columns.map((c) => `${c.name} ${c.type}${c.required ? " (required)" : ""}`).join(", ") },
      { label: "Key", value: (d) => (d.key.length > 0 ? d.key.join(", ") : "none") },
      { label: "On key conflict", value: (d) => d.onKeyConflict },
      { label: "Indexes", value: (d) => d.indexes.map((i) => `(${i.join(", ")})`).join(" ") || "–" },
    ], datasets, { caption: "Datasets of this tenant", empty: "No datasets yet: register one below." }));
  } catch (error) {
    showProblem(list, error);
  }

  register.append(registerForm(api, navigate));
}

/** One column of the form: name, type, required, part of the key; it reads itself back. */
function columnRow(number, columns) {
  const name = h("input", { type: "text", name: "column-name", autocomplete: "off", spellcheck: "false", pattern: NAME_PATTERN, required: true });
  const type = h("input", { type: "text", name: "column-type", list: "dataset-types", autocomplete: "off", spellcheck: "false", required: true, value: "text" });
  const required = h("input", { type: "checkbox", name: "column-required" });
  const key = h("input", { type: "checkbox", name: "column-key" });
  const row = h("fieldset", { class: "column-row" },
    h("legend", null, `Column ${number}`),
    field("Name", name),
    field("Type", type),
    field("Required", required),
    field("Part of the key", key),
    h("button", { type: "button", class: "secondary", onclick: () => row.remove() }, `Remove column ${number}`));
  columns.append(row);
  row.read = () => ({ name: name.value.trim(), type: type.value.trim(), required: required.checked, key: key.checked });
  return name;
}

function registerForm(api, navigate) {
  const problems = h("div", { class: "problems" });
  const name = h("input", { type: "text", name: "name", autocomplete: "off", spellcheck: "false", pattern: NAME_PATTERN, required: true });
  const onKeyConflict = h("select", { name: "onKeyConflict" },
    h("option", { value: "reject" }, "reject: a repeated key goes to the rejects file"),
    h("option", { value: "upsert" }, "upsert: a repeated key replaces the row"));
  const ignoreUnknown = h("input", { type: "checkbox", name: "ignoreUnknownColumns" });
  const maxRows = h("input", { type: "number", name: "maxRejectedRows", min: "0", step: "1", inputmode: "numeric" });
  const maxRatio = h("input", { type: "number", name: "maxRejectedRatio", min: "0", max: "1", step: "0.001", inputmode: "decimal" });
  const columns = h("div", { class: "columns" });
  let added = 0;
  const addColumn = () => {
    added += 1;
    return columnRow(added, columns);
  };
  addColumn();

  const submit = h("button", { type: "submit" }, "Register");
  const form = h("form", { class: "stack", novalidate: true },
    field("Dataset name", name, "Lower-case letters, digits and _, starting with a letter."),
    h("h3", null, "Columns"),
    h("datalist", { id: "dataset-types" }, TYPES.map((t) => h("option", { value: t }))),
    h("p", { class: "hint" }, "Types: text, char(n), varchar(n), integer, bigint, numeric(p,s), numeric, boolean, date, timestamptz, uuid."),
    columns,
    h("button", { type: "button", class: "secondary", onclick: () => addColumn().focus() }, "Add a column"),
    h("h3", null, "Policies"),
    field("On key conflict", onKeyConflict),
    field("Ignore unknown columns", ignoreUnknown, "Otherwise a file with a column the dataset lacks fails."),
    field("Most rejected rows", maxRows, "A load stops past this many rejects; empty for no limit."),
    field("Most rejected share", maxRatio, "0 to 1; empty for no limit."),
    submit,
    problems);

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    problems.replaceChildren();
    const rows = [...columns.children].map((row) => row.read());
    const body = {
      name: name.value.trim(),
      columns: rows.map(({ name: column, type, required }) => ({ name: column, type, required })),
      key: rows.filter((r) => r.key).map((r) => r.name),
      onKeyConflict: onKeyConflict.value,
      ignoreUnknownColumns: ignoreUnknown.checked,
    };
    if (maxRows.value !== "") body.maxRejectedRows = Number(maxRows.value);
    if (maxRatio.value !== "") body.maxRejectedRatio = Number(maxRatio.value);
    submit.disabled = true;
    try {
      const created = await api.post("/v1/datasets", body);
      navigate(`#/datasets/${encodeURIComponent(created.name)}`);
    } catch (error) {
      // The API judges the whole definition and names each field that is wrong.
      showFieldErrors(problems, error);
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}
