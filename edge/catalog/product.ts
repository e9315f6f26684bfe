/**
 * A product as the catalogue API takes it, and the `products` row it becomes — the one mapping every product goes
 * through before D1 (the API's upsert and patch; the pipeline's SQL is written by its Python twin,
 * vitrine_gpu.search.catalog.product_row, and test/edge/catalog.test.ts checks the two agree on a fixture Python
 * writes). Every column the ranking features read is derived here from what the API is sent:
 *  - text fields are clipped to 12,000 UTF-8 bytes (title, bullets, description: what fits a D1 statement), then
 *    tokenised once into the token columns (edge/search/features.ts tokenColumns);
 *  - `category` (a path, top level first) is stored joined with " > ";
 *  - `is_book` is derived from the category: some level names books (book(s), ebook(s), audiobook(s)).
 */
import { z } from "zod";
import { tokenColumns, type TokenColumns } from "../search/features";

/** A product id: 1–64 characters, unique within its store. */
export const productIdSchema = z.string().trim().min(1, "id must not be empty").max(64, "id is at most 64 characters");

const text = (max: number) => z.string().max(max, `at most ${max} characters`);

export const productSchema = z
  .object({
    id: productIdSchema,
    title: z
      .string()
      .max(100_000)
      .refine((t) => t.trim() !== "", "title must not be empty"),
    brand: text(1_000).optional(),
    color: text(1_000).optional(),
    description: text(100_000).optional(),
    bullets: text(100_000).optional(),
    /** the category path, top level first */
    category: z.array(z.string().trim().min(1).max(200)).max(20).optional(),
    price: z.number().finite().nonnegative().nullable().optional(),
    rating: z.number().finite().min(0).max(5).nullable().optional(),
    ratingCount: z.number().int().nonnegative().nullable().optional(),
    /** false: out of stock or withdrawn (never served; kept in the catalogue) */
    available: z.boolean().default(true),
  })
  .strict();

export type ProductInput = z.input<typeof productSchema>;
export type Product = z.output<typeof productSchema>;

/** The columns of a `products` row the catalogue writes (the store, rowid and updated_at are the writer's). */
export interface ProductRow extends TokenColumns {
  id: string;
  title: string;
  brand: string;
  color: string;
  bullets: string;
  description: string;
  category: string;
  price: number | null;
  rating: number | null;
  rating_count: number | null;
  is_book: number;
  available: number;
}

/** The row columns in a fixed order (the upsert's column list). */
export const ROW_COLUMNS = [
  "id",
  "title",
  "brand",
  "color",
  "bullets",
  "description",
  "category",
  "price",
  "rating",
  "rating_count",
  "is_book",
  "available",
  "title_terms",
  "brand_terms",
  "color_terms",
  "category_terms",
  "text_terms",
  "title_unique_tokens",
  "bullets_tokens",
  "description_tokens",
] as const satisfies readonly (keyof ProductRow)[];

export const MAX_FIELD_BYTES = 12_000;
export const CATEGORY_SEPARATOR = " > ";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The first `max` UTF-8 bytes of `s`, a character cut in two dropped (Python: b[:max].decode(errors="ignore")). */
export function clipBytes(s: string, max = MAX_FIELD_BYTES): string {
  const bytes = encoder.encode(s);
  if (bytes.length <= max) return s;
  let end = max;
  // back up to the start of the last (possibly cut) character, then keep it only if it is whole
  let start = end;
  while (start > 0 && (bytes[start - 1]! & 0xc0) === 0x80) start--;
  if (start > 0) {
    const lead = bytes[start - 1]!;
    const size = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
    if (start - 1 + size > end) end = start - 1;
  }
  return decoder.decode(bytes.subarray(0, end));
}

const BOOKISH = /\b(?:e|audio)?books?\b/i;

/** Whether a category path names books: some level holds the word book(s), ebook(s) or audiobook(s). */
export function isBookCategory(path: readonly string[]): boolean {
  return path.some((level) => BOOKISH.test(level));
}

/** The row of a product. */
export function productRow(p: Product): ProductRow {
  const base = {
    id: p.id,
    title: clipBytes(p.title),
    brand: p.brand ?? "",
    color: p.color ?? "",
    bullets: clipBytes(p.bullets ?? ""),
    description: clipBytes(p.description ?? ""),
    category: (p.category ?? []).join(CATEGORY_SEPARATOR),
    price: p.price ?? null,
    rating: p.rating ?? null,
    rating_count: p.ratingCount ?? null,
    is_book: isBookCategory(p.category ?? []) ? 1 : 0,
    available: p.available ? 1 : 0,
  };
  return { ...base, ...tokenColumns(base) };
}

/** A row as the API answers it (GET, export): the product as it would be sent, plus when it last changed. */
export function productOf(row: Omit<ProductRow, keyof TokenColumns> & { updated_at?: number }): Product & {
  updatedAt?: number;
} {
  return {
    id: row.id,
    title: row.title,
    ...(row.brand ? { brand: row.brand } : {}),
    ...(row.color ? { color: row.color } : {}),
    ...(row.description ? { description: row.description } : {}),
    ...(row.bullets ? { bullets: row.bullets } : {}),
    ...(row.category ? { category: row.category.split(CATEGORY_SEPARATOR) } : {}),
    price: row.price,
    rating: row.rating,
    ratingCount: row.rating_count,
    available: row.available === 1,
    ...(row.updated_at ? { updatedAt: row.updated_at } : {}),
  };
}
