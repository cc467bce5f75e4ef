// The top bar: links to the experiment's pages, the current one marked.
import { api } from "./api.js";
import { h, replace } from "./dom.js";

export async function renderNav(experimentId, current) {
  const nav = document.getElementById("nav");
  if (!experimentId) {
    replace(nav, h("a", { href: "/ui/experiments", text: "Experiments", attrs: { "aria-current": "page" } }));
    return null;
  }
  const base = `/ui/experiments/${encodeURIComponent(experimentId)}`;
  const link = (page, label) =>
    h("a", { href: `${base}/${page}`, text: label, attrs: { "aria-current": page === current ? "page" : null } });
  const name = h("span", { class: "experiment-name", text: `experiment ${experimentId}` });
  replace(nav, h("a", { href: "/ui/experiments", text: "Experiments" }), h("span", { class: "sep", text: "/" }), name,
    link("traces", "Traces"), link("sessions", "Sessions"), link("dashboard", "Dashboard"));
  try {
    const { experiment } = await api("GET", `/api/v1/experiments/${encodeURIComponent(experimentId)}`);
    name.textContent = experiment.name;
    document.title = `${experiment.name} · ${document.title}`;
    return experiment;
  } catch {
    return null;
  }
}
