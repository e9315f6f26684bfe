/** Small DOM helpers: elements the page must have, and table rows / list items built from text (never HTML). */

export function byId(id: string): HTMLElement {
  const el = document.getElementById(id);
  if (!el) throw new Error("#" + id + " missing from the page");
  return el;
}

/** An element with text children (or other elements) and optional attributes. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string>,
  ...children: (Node | string)[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  el.append(...children);
  return el;
}
