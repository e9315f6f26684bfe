/**
 * The Experiments section (#experiments, rendered by views.tsx): lists the experiments of the page's store (or of
 * every store) with per-variant weight, requests, CTR and conversion (Wilson intervals, n/a with counts where the
 * impressions cannot carry a rate), a weight input per variant with Reweight and End buttons per active experiment,
 * and the create form. Every change goes through the admin API with the session cookie; its refusal (e.g. the 409 of
 * a release's canary on the same store's surface) is shown in #experiment-status. #experiments gets
 * data-ready="true" once the list is drawn (again after every change).
 */
import { createExperiment, getExperiments, patchExperiment, type Experiment, type NewVariant } from "./api";
import { byId, h } from "./dom";
import { rateText } from "../../metrics/rates";

function status(text: string, error = false): void {
  const el = byId("experiment-status");
  el.textContent = text;
  el.className = error ? "error" : "muted";
}

const message = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/** Runs a change, reports it, redraws the list. */
async function change(done: string, act: () => Promise<unknown>): Promise<void> {
  try {
    await act();
    status(done);
  } catch (e) {
    status(message(e), true);
  }
  await drawList();
}

function experimentBlock(exp: Experiment): HTMLElement {
  const weights = new Map<string, HTMLInputElement>();
  const rows = exp.variants.map((v) => {
    const f = exp.figures[v.name];
    const input = h("input", { type: "number", min: "0.001", step: "any", value: String(v.weight), name: v.name });
    if (!exp.active || v.releaseId) input.disabled = true;
    else weights.set(v.name, input);
    return h(
      "tr",
      { "data-variant": v.name },
      h("td", {}, v.name + (v.releaseId ? " (canary)" : "")),
      h("td", {}, input),
      h("td", {}, (v.lightModel || "default") + " / " + (v.heavyModel || "default")),
      h("td", {}, String(f?.requests ?? 0)),
      h("td", { class: "ctr" }, f ? rateText(f.ctr) : "–"),
      h("td", { class: "conversion" }, f ? rateText(f.conversion) : "–"),
    );
  });
  const controls: HTMLElement[] = [];
  if (exp.active) {
    const reweight = h("button", { type: "button", class: "reweight" }, "Reweight");
    reweight.addEventListener("click", () => {
      const next: Record<string, number> = {};
      for (const [name, input] of weights) next[name] = Number(input.value);
      void change("reweighted " + exp.id, () => patchExperiment(exp.id, { weights: next }));
    });
    const end = h("button", { type: "button", class: "end" }, "End");
    end.addEventListener("click", () => {
      void change("ended " + exp.id, () => patchExperiment(exp.id, { active: false }));
    });
    controls.push(reweight, end);
  }
  return h(
    "div",
    { class: "experiment", "data-id": exp.id, "data-active": String(exp.active) },
    h("h3", {}, exp.id + " · " + exp.store + " " + exp.surface + (exp.active ? "" : " (ended)")),
    h(
      "table",
      {},
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          ...["variant", "weight", "light / heavy", "requests", "CTR", "conversion"].map((t) => h("th", {}, t)),
        ),
      ),
      h("tbody", {}, ...rows),
    ),
    ...controls,
  );
}

async function drawList(): Promise<void> {
  const section = byId("experiments");
  section.dataset.ready = "false";
  const list = byId("experiment-list");
  try {
    const { experiments } = await getExperiments(section.dataset.store || undefined);
    list.replaceChildren(
      ...(experiments.length ? experiments.map(experimentBlock) : [h("p", { class: "muted" }, "no experiments")]),
    );
  } catch (e) {
    list.replaceChildren(h("p", { class: "muted" }, "experiments unavailable: " + message(e)));
  }
  section.dataset.ready = "true";
}

/** The create form's variant rows as the API's variants ("" fields left out: the surface's defaults). */
function variantsOf(form: HTMLFormElement): NewVariant[] {
  return [...form.querySelectorAll<HTMLTableRowElement>("tr.variant")].map((row) => {
    const val = (name: string): string =>
      row.querySelector<HTMLInputElement>(`input[name=${name}]`)?.value.trim() ?? "";
    const v: NewVariant = { name: val("name"), weight: Number(val("weight")) };
    if (val("lightModel")) v.lightModel = val("lightModel");
    if (val("heavyModel")) v.heavyModel = val("heavyModel");
    if (val("gpuTargetVariant")) v.gpuTargetVariant = val("gpuTargetVariant");
    if (val("topM")) v.topM = Number(val("topM"));
    return v;
  });
}

function wireForm(): void {
  const form = byId("experiment-create") as HTMLFormElement;
  const surface = form.querySelector<HTMLSelectElement>("select[name=surface]");
  // the model suggestions follow the surface
  surface?.addEventListener("change", () => {
    for (const kind of ["light", "heavy"])
      for (const input of form.querySelectorAll<HTMLInputElement>(`input[name=${kind}Model]`))
        input.setAttribute("list", `models-${kind}-${surface.value}`);
  });
  byId("experiment-add-variant").addEventListener("click", () => {
    const rows = byId("experiment-variants");
    const last = rows.lastElementChild;
    if (!last) return;
    const copy = last.cloneNode(true) as HTMLTableRowElement;
    const name = copy.querySelector<HTMLInputElement>("input[name=name]");
    if (name) name.value = "variant-" + (rows.children.length + 1);
    rows.append(copy);
  });
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const data = new FormData(form);
    const reason = String(data.get("reason") ?? "").trim();
    void change("created an experiment", () =>
      createExperiment({
        store: String(data.get("store")),
        surface: String(data.get("surface")),
        variants: variantsOf(form),
        ...(reason ? { reason } : {}),
      }),
    );
  });
}

export async function loadExperiments(): Promise<void> {
  if (!document.getElementById("experiments")) return;
  wireForm();
  await drawList();
}
