/**
 * The gate's refusal as a notice. A release recorded as refused (the offline gate, an import or a deploy said no:
 * production untouched, nothing for anyone to do tonight) raises `release-refused:<store>:<kind>` with severity
 * `notice` — never a page; a scheduled retrain (`npm run retrain`) is refused this way when its candidate is worse.
 * The next promotion of the same store and kind resolves it. A rollback of a canary stays a page (tick.ts).
 */
import { config } from "../config";
import type { Bindings } from "../env";
import { raiseAlert, resolveAlert } from "../metrics/alerts";
import type { ReleaseRow } from "./store";

type Scope = Pick<ReleaseRow, "store" | "kind">;

export const refusalNoticeId = (r: Scope): string => `release-refused:${r.store}:${r.kind}`;

/** Raises (or keeps raised, with the newest refusal's summary) the notice of a refused release. */
export async function noticeRefusal(env: Bindings, r: Scope & Pick<ReleaseRow, "id" | "version">, reason: string) {
  await raiseAlert(
    env.DB,
    {
      id: refusalNoticeId(r),
      rule: "release_gate_refused",
      kind: "release",
      severity: "notice",
      value: null,
      threshold: null,
      forS: 0,
      summary:
        `release ${r.id} (${r.kind} ${r.version}, store ${r.store}) refused; production unchanged: ${reason}`.slice(
          0,
          1000,
        ),
      labels: { release: r.id, kind: r.kind, version: r.version, store: r.store },
    },
    Math.floor(Date.now() / 1000),
    config(env).metrics.alertWebhookUrl,
  ).catch((err: unknown) => console.error("release refusal notice", err));
}

/** A promotion of the store's kind: its refusal notice (if open) resolves. */
export async function resolveRefusalNotice(env: Bindings, r: Scope, now = Date.now()): Promise<void> {
  await resolveAlert(env.DB, refusalNoticeId(r), Math.floor(now / 1000), config(env).metrics.alertWebhookUrl).catch(
    (err: unknown) => console.error("release refusal notice", err),
  );
}
