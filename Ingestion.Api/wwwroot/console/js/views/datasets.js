// #/datasets: the tenant's datasets, and a form to register one (typed columns, key, policies).
import { h, showProblem } from "../ui.js";
import { field, grid, on, props, showFieldErrors } from "./parts.js";

const TYPES = ["text", "varchar(200)", "char(3)", "integer", "bigint", "numeric(12,2)", "numeric", "boolean", "date", "timestamptz", "uuid"];

export async function render(main, ctx) {
  const { api, navigate } = ctx;
  main.append(h("h1", {}, "Datasets"));
  const listSection = h("section", { "aria-labelledby": "datasets-list" }, h("h2", { id: "datasets-list" }, "Registered"));
  const formSection = h("section", { "aria-labelledby": "datasets-register" }, h("h2", { id: "datasets-register" }, "Register a dataset"));
  main.append(listSection, formSection);

  try {
    const datasets = await api.get("/v1/datasets");
    listSection.append(datasets.length === 0
      ? h("p", {}, "No datasets yet: register one below.")
      : grid("Datasets of this tenant", ["Name", "Columns", "Key", "On key conflict", "Indexes"],
        datasets.map((d) => [
          h("a", { href: `#/datasets/${encodeURIComponent(d.name)}` }, d.name),
          d.columns.map((c) => `${c.name} ${c.type}${c.required ? " (required)" : ""}`).join(", "),
          d.key.length > 0 ? d.key.join(", ") : "none",
          d.onKeyConflict,
          d.indexes.map((i) => `(${i.join(", ")})`).join(" ") || "—",
        ])));
  } catch (error) {
    showProblem(listSection, error);
  }

  formSection.append(registerForm(api, navigate));
}

/** One column's row of the form: name, type, required, part of the key, remove. */
function columnRow(index, onRemove) {
  const listId = `types-${index}`;
  const name = props(h("input", { type: "text", name: "column-name", autocomplete: "off", pattern: "[a-z][a-z0-9_]*" }), { required: true });
  const type = props(h("input", { type: "text", name: "column-type", list: listId, autocomplete: "off" }), { required: true, value: "text" });
  const required = h("input", { type: "checkbox", name: "column-required" });
  const key = h("input", { type: "checkbox", name: "column-key" });
  const row = h("fieldset", { class: "column-row" },
    h("legend", {}, `Column ${index + 1}`),
    field("Name", name),
    field("Type", type, "text, char(n), varchar(n), integer, bigint, numeric(p,s), boolean, date, timestamptz, uuid"),
    h("datalist", { id: listId }, ...TYPES.map((t) => h("option", { value: t }))),
    field("Required", required),
    field("Part of the key", key));
  row.append(on(h("button", { type: "button", class: "secondary" }, `Remove column ${index + 1}`), { click: () => onRemove(row) }));
  row.read = () => ({ name: name.value.trim(), type: type.value.trim(), required: required.checked, key: key.checked });
  return row;
}

function registerForm(api, navigate) {
  const problems = h("div", { class: "problems" });
  const name = props(h("input", { type: "text", name: "name", autocomplete: "off", pattern: "[a-z][a-z0-9_]*" }), { required: true });
  const onKeyConflict = h("select", { name: "onKeyConflict" }, h("option", { value: "reject" }, "reject: a repeated key goes to the rejects file"),
    h("option", { value: "upsert" }, "upsert: a repeated key replaces the row"));
  const ignoreUnknown = h("input", { type: "checkbox", name: "ignoreUnknownColumns" });
  const maxRows = h("input", { type: "number", name: "maxRejectedRows", min: "0", step: "1", inputmode: "numeric" });
  const maxRatio = h("input", { type: "number", name: "maxRejectedRatio", min: "0", max: "1", step: "0.001", inputmode: "decimal" });
  const columns = h("div", { class: "columns" });
  let count = 0;
  const addColumn = () => {
    columns.append(columnRow(count, (row) => row.remove()));
    count += 1;
  };
  addColumn();

  const submit = h("button", { type: "submit" }, "Register");
  const form = h("form", { class: "stack", novalidate: "" },
    field("Name", name, "lower case letters, digits and _; starts with a letter"),
    h("h3", {}, "Columns"),
    columns,
    on(h("button", { type: "button", class: "secondary" }, "Add a column"), { click: addColumn }),
    h("h3", {}, "Policies"),
    field("On key conflict", onKeyConflict),
    field("Ignore unknown columns", ignoreUnknown, "otherwise a file with a column the dataset lacks fails"),
    field("Most rejected rows", maxRows, "a load stops past this many rejects; empty for no limit"),
    field("Most rejected share", maxRatio, "0 to 1; empty for no limit"),
    submit,
    problems);

  on(form, {
    submit: async (event) => {
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
      if (maxRows.value !== "") {
        body.maxRejectedRows = Number(maxRows.value);
      }
      if (maxRatio.value !== "") {
        body.maxRejectedRatio = Number(maxRatio.value);
      }
      submit.disabled = true;
      try {
        const created = await api.post("/v1/datasets", body);
        navigate(`#/datasets/${encodeURIComponent(created.name)}`);
      } catch (error) {
        showFieldErrors(problems, error);
      } finally {
        submit.disabled = false;
      }
    },
  });
  return form;
}
