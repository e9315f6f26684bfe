// The model registry's part of a backup: every manifest and artefact file with its SHA-256.
//   copyRegistry(src, dest, previous?)   a local registry (.vitrine/registry) → dest; a file already in the previous
//                                        backup with the same digest is hard-linked, not copied (versions are
//                                        immutable: a backup every few hours costs the new versions only)
//   syncS3Registry(uri, dest, run)       production: `aws s3 sync` of the artefacts' S3 prefix (the model.tar.gz
//                                        files infra/sagemaker/deploy_endpoint.py uploads), then the same digests
//   restoreRegistry(backupDir, files, target)   copies the files back, verified
import { copyFile, link, mkdir, readdir, stat } from "node:fs/promises";
import path from "node:path";
import { fileSha256, verifyFiles } from "./manifest.mjs";

/** @typedef {Record<string, { bytes: number, sha256: string }>} FileDigests */

/** Every regular file under `root`, as paths relative to it (sorted). */
async function listFiles(/** @type {string} */ root) {
  const out = [];
  for (const e of await readdir(root, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) out.push(path.relative(root, path.join(e.parentPath ?? e.path, e.name)));
  }
  return out.sort();
}

/**
 * @param {string} src  the registry directory
 * @param {string} dest the backup's registry directory
 * @param {{ dir: string, files: FileDigests } | undefined} previous the last backup's registry, for hard links
 * @returns {Promise<{ files: FileDigests, copiedBytes: number, linkedBytes: number }>}
 */
export async function copyRegistry(src, dest, previous) {
  /** @type {FileDigests} */
  const files = {};
  let copiedBytes = 0;
  let linkedBytes = 0;
  for (const rel of await listFiles(src)) {
    const digest = await fileSha256(path.join(src, rel));
    const target = path.join(dest, rel);
    await mkdir(path.dirname(target), { recursive: true });
    const before = previous?.files[rel];
    let linked = false;
    if (before && before.sha256 === digest.sha256) {
      linked = await link(path.join(previous.dir, rel), target).then(
        () => true,
        () => false, // another file system, or the old copy is gone: copy instead
      );
    }
    if (!linked) await copyFile(path.join(src, rel), target);
    if (linked) linkedBytes += digest.bytes;
    else copiedBytes += digest.bytes;
    files[rel] = digest;
  }
  // the copy must be what was hashed: a file rewritten during the copy fails here, not at restore time
  const changed = await verifyFiles(dest, files);
  if (changed.length) throw new Error(`registry changed during the backup: ${changed.map((c) => c.file).join(", ")}`);
  return { files, copiedBytes, linkedBytes };
}

/**
 * Production registry: the S3 prefix of the model artefacts, synced with the AWS CLI (credentials from its usual
 * chain), then hashed. Untested against AWS here (no account): tests record the command.
 * @param {string} uri s3://bucket/prefix @param {string} dest @param {import("./runner.mjs").Runner} run
 */
export async function syncS3Registry(uri, dest, run) {
  if (!/^s3:\/\/[^/]+/.test(uri)) throw new Error(`--registry-s3 must look like s3://bucket/prefix, got ${uri}`);
  await mkdir(dest, { recursive: true });
  await run("aws", ["s3", "sync", uri, dest, "--only-show-errors"]);
  /** @type {FileDigests} */
  const files = {};
  for (const rel of await listFiles(dest)) files[rel] = await fileSha256(path.join(dest, rel));
  return { files, copiedBytes: Object.values(files).reduce((n, f) => n + f.bytes, 0), linkedBytes: 0 };
}

/** Copies a backup's registry into `target` (which must not exist yet) and verifies every file. */
export async function restoreRegistry(
  /** @type {string} */ backupRegistry,
  /** @type {FileDigests} */ files,
  /** @type {string} */ target,
) {
  if (
    await stat(target).then(
      () => true,
      () => false,
    )
  )
    throw new Error(`${target} exists: restore a registry into a new directory`);
  for (const rel of Object.keys(files)) {
    await mkdir(path.dirname(path.join(target, rel)), { recursive: true });
    await copyFile(path.join(backupRegistry, rel), path.join(target, rel));
  }
  return verifyFiles(target, files);
}
