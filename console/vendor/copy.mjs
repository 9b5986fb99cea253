// Copies the swagger-ui-dist files that /docs needs from node_modules into
// ../docs/vendor/, byte for byte. The output is committed and embedded in the
// binary; scripts/check-console-vendor checks it equals what `npm ci` gives.
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const source = join(here, "node_modules", "swagger-ui-dist");
const target = join(here, "..", "docs", "vendor");
const files = ["swagger-ui-bundle.js", "swagger-ui.css", "LICENSE", "NOTICE"];

mkdirSync(target, { recursive: true });
for (const file of files) {
  copyFileSync(join(source, file), join(target, file));
}
const { version } = JSON.parse(readFileSync(join(source, "package.json"), "utf8"));
writeFileSync(join(target, "VERSION"), `swagger-ui-dist ${version}\n`);
console.log(`copied ${files.length} files of swagger-ui-dist ${version} into ${target}`);
