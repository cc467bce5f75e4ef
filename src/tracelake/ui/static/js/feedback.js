// Compact rendering of a trace's feedback: thumbs counts and scores.
import { h } from "./dom.js";

/** Summarise feedback assessments: {up, down, scores: [[name, value]]}. */
export function summarise(assessments) {
  let up = 0;
  let down = 0;
  const scores = [];
  for (const assessment of assessments || []) {
    if (assessment.kind !== "feedback") continue;
    if (assessment.value === true) up += 1;
    else if (assessment.value === false) down += 1;
    else if (typeof assessment.value === "number") scores.push([assessment.name, assessment.value]);
  }
  return { up, down, scores };
}

/** A cell's content: "👍 2 👎 1 relevance 0.8". */
export function feedbackBadges(assessments) {
  const { up, down, scores } = summarise(assessments);
  const parts = [];
  if (up) parts.push(h("span", { class: "thumb up", text: `▲ ${up}`, attrs: { title: `${up} thumbs up` } }));
  if (down) parts.push(h("span", { class: "thumb down", text: `▼ ${down}`, attrs: { title: `${down} thumbs down` } }));
  for (const [name, value] of scores.slice(0, 3)) {
    parts.push(h("span", { class: "score", text: `${name} ${Number.isInteger(value) ? value : value.toFixed(2)}` }));
  }
  return parts;
}
