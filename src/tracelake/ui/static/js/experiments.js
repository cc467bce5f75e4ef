// Experiments: trace counts, last activity, error rate; create and rename.
import { api } from "./api.js";
import { errorBox, h, replace } from "./dom.js";
import { formatAgo, formatCount, formatPercent, formatTime } from "./format.js";
import { renderNav } from "./nav.js";

export async function render(main) {
  renderNav(null, "experiments");
  const message = h("div", { attrs: { "aria-live": "polite" } });
  const body = h("tbody");
  const nameInput = h("input", {
    attrs: { id: "new-experiment", name: "name", placeholder: "new experiment name", required: true, maxlength: 500 },
  });
  const form = h("form", { class: "inline-form", attrs: { "aria-label": "Create an experiment" } },
    h("label", { attrs: { for: "new-experiment" }, text: "Create" }), nameInput,
    h("button", { attrs: { type: "submit" }, text: "Create experiment" }));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await api("POST", "/api/v1/experiments", { name: nameInput.value.trim() });
      nameInput.value = "";
      replace(message);
      await load();
    } catch (error) {
      replace(message, errorBox(error));
    }
  });
  replace(main, h("h1", { text: "Experiments" }), form, message,
    h("table", { class: "table", attrs: { id: "experiments" } },
      h("thead", {}, h("tr", {}, ["Name", "Traces", "Error rate", "Last activity", "Created", "Id", ""].map(
        (label) => h("th", { attrs: { scope: "col" }, text: label })))),
      body));

  async function load() {
    const [{ experiments }, { experiments: stats }] = await Promise.all([
      api("GET", "/api/v1/experiments"), api("GET", "/api/v1/experiment-stats"),
    ]);
    const byId = new Map(stats.map((s) => [s.experiment_id, s]));
    replace(body, experiments.map((experiment) => row(experiment, byId.get(experiment.experiment_id))));
    if (!experiments.length) replace(body, h("tr", {}, h("td", { attrs: { colspan: 7 }, text: "No experiments yet." })));
  }

  function row(experiment, stat) {
    const id = experiment.experiment_id;
    const nameCell = h("td", {}, h("a", { href: `/ui/experiments/${encodeURIComponent(id)}/traces`, text: experiment.name }));
    const renameButton = h("button", { class: "link", text: "Rename", attrs: { "aria-label": `Rename ${experiment.name}` } });
    renameButton.addEventListener("click", () => {
      const input = h("input", { attrs: { value: experiment.name, "aria-label": "New name", maxlength: 500 } });
      const renameForm = h("form", { class: "inline-form" }, input,
        h("button", { attrs: { type: "submit" }, text: "Save" }),
        h("button", { attrs: { type: "button" }, text: "Cancel", on: { click: () => load() } }));
      renameForm.addEventListener("submit", async (event) => {
        event.preventDefault();
        try {
          await api("PATCH", `/api/v1/experiments/${encodeURIComponent(id)}`, { name: input.value.trim() });
          replace(message);
          await load();
        } catch (error) {
          replace(message, errorBox(error));
        }
      });
      replace(nameCell, renameForm);
      input.focus();
      input.select();
    });
    const errorRate = stat?.error_rate;
    return h("tr", { data: { experimentId: id } },
      nameCell,
      h("td", { class: "num", text: formatCount(stat?.trace_count ?? 0) }),
      h("td", { class: `num${errorRate > 0 ? " bad" : ""}`, text: formatPercent(errorRate) }),
      h("td", { text: stat?.last_trace_time_ms ? formatAgo(stat.last_trace_time_ms) : "no traces",
        attrs: { title: formatTime(stat?.last_trace_time_ms) } }),
      h("td", { text: formatTime(experiment.creation_time) }),
      h("td", { class: "num muted", text: id }),
      h("td", {}, renameButton,
        h("a", { class: "button-link", href: `/ui/experiments/${encodeURIComponent(id)}/dashboard`, text: "Dashboard" })));
  }

  try {
    await load();
  } catch (error) {
    replace(message, errorBox(error));
  }
}
