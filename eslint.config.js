// ESLint (flat config): the recommended JavaScript and typescript-eslint rules over the edge, tests and scripts.
// Formatting is Prettier's job (`npm run format`); `npm run lint` runs both in check mode, as `npm test` does.
import js from "@eslint/js";
import globals from "globals";
import tseslint from "typescript-eslint";

export default tseslint.config(
  {
    ignores: [
      "node_modules/",
      ".vitrine/",
      ".wrangler/",
      "dist/",
      "test-artifacts/",
      "edge/generated/",
      "worker-configuration.d.ts",
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node, ...globals.serviceworker } },
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
    },
  },
  {
    // the dashboard's browser script (edge/dashboard/client/tsconfig.json type-checks it against the DOM)
    files: ["edge/dashboard/client/**"],
    languageOptions: { globals: { ...globals.browser } },
  },
);
