/**
 * Request id (hono/request-id): a well-formed incoming `X-Request-Id` is reused so callers can correlate, otherwise
 * a UUID is minted; echoed on the response and available to handlers as c.var.requestId. Well-formed means 1–64
 * characters of `A–Z a–z 0–9 _ - =` (Hono's charset; before it, vitrine also took `.` and `:` and wanted 8+
 * characters: an id with `.` or `:` now gets a fresh UUID).
 */
import { requestId as honoRequestId } from "hono/request-id";

export const requestId = honoRequestId({ limitLength: 64, headerName: "X-Request-Id" });
