// Entry point: run the module of the page the server named in <body data-page>.
const pages = {
  experiments: () => import("./experiments.js"),
  explorer: () => import("./explorer.js"),
  trace: () => import("./trace.js"),
  sessions: () => import("./sessions.js"),
  dashboard: () => import("./dashboard.js"),
};

const { page, experimentId, traceId } = document.body.dataset;
const load = pages[page];
if (load) {
  load()
    .then((module) => module.render(document.getElementById("main"), { experimentId, traceId }))
    .catch((error) => {
      const box = document.createElement("div");
      box.className = "error";
      box.setAttribute("role", "alert");
      box.textContent = `This page failed to load: ${error.message}`;
      document.getElementById("main").replaceChildren(box);
      console.error(error);
    });
}
