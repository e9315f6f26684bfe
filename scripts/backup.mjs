#!/usr/bin/env node
// npm run backup -- [--out DIR] [--persist-to DIR] [--registry DIR | --no-registry]
//                   [--remote DATABASE [--registry-s3 s3://bucket/prefix]]
// Local (default): a point-in-time snapshot of wrangler dev's D1 state (.wrangler/state, live: DB and each catalogue
// shard CATALOG_SHARD_n of wrangler.toml), dumped with a checksum per table, plus the model registry
// (.vitrine/registry), into .vitrine/backups/<UTC time>/.
// Production (--remote NAME): the D1 Time Travel bookmark, then the remote tables, and the same for each catalogue
// shard's remote database (wrangler.toml's database_name), plus the S3 model artefacts.
// Prints the manifest summary as JSON (README "Backup and restore").
import path from "node:path";
import { parseArgs } from "node:util";
import { backupName, DEFAULT_BACKUPS, takeBackup } from "./backup/take.mjs";

const { values } = parseArgs({
  options: {
    out: { type: "string" },
    "persist-to": { type: "string" },
    registry: { type: "string" },
    "no-registry": { type: "boolean", default: false },
    remote: { type: "string" },
    "registry-s3": { type: "string" },
  },
});
const out = path.resolve(values.out ?? path.join(DEFAULT_BACKUPS, backupName()));
const { manifest, registryBytes } = await takeBackup({
  out,
  ...(values["persist-to"] ? { persistTo: path.resolve(values["persist-to"]) } : {}),
  ...(values.remote ? { remoteDatabase: values.remote } : {}),
  registry: values["no-registry"] ? null : values.registry ? path.resolve(values.registry) : undefined,
  ...(values["registry-s3"] ? { registryS3: values["registry-s3"] } : {}),
});
const t = manifest.d1.tables;
console.log(
  JSON.stringify(
    {
      backup: out,
      createdAt: manifest.createdAt,
      source: manifest.source,
      d1: {
        bytes: manifest.d1.bytes,
        tables: Object.keys(t).length,
        rows: Object.values(t).reduce((n, c) => n + c.rows, 0),
      },
      shards: (manifest.shards ?? []).map((s) => ({
        binding: s.binding,
        bytes: s.bytes,
        rows: Object.values(s.tables).reduce((n, c) => n + c.rows, 0),
      })),
      timeTravel: manifest.timeTravel,
      registry: manifest.registry && { files: Object.keys(manifest.registry.files).length, bytes: registryBytes },
      timingsMs: manifest.timingsMs,
    },
    null,
    2,
  ),
);
