// Bundles entry.js into ../../grader/bpdrill/web/static/editor.js (one file, minified) and
// gathers the licences of everything bundled into editor.LICENSES.txt beside it.
//   npm ci && npm run build
import { build } from "esbuild";
import { readFileSync, writeFileSync, readdirSync, existsSync } from "node:fs";
import { join } from "node:path";

const out = "../../grader/bpdrill/web/static";
const result = await build({
  entryPoints: ["entry.js"], bundle: true, minify: true, format: "iife", globalName: "BpdrillEditor",
  outfile: join(out, "editor.js"), metafile: true, legalComments: "none", target: ["es2020"],
});

const packages = new Set();
for (const input of Object.keys(result.metafile.inputs)) {
  const m = input.match(/node_modules\/((?:@[^/]+\/)?[^/]+)/);
  if (m) packages.add(m[1]);
}
const parts = ["Licences of the packages bundled in editor.js (built by tools/editor/build.mjs).\n"];
for (const name of [...packages].sort()) {
  const dir = join("node_modules", name);
  const meta = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
  const file = readdirSync(dir).find((f) => /^licen[cs]e/i.test(f));
  parts.push(`==== ${name} ${meta.version} (${meta.license})\n`);
  parts.push(file && existsSync(join(dir, file)) ? readFileSync(join(dir, file), "utf8") : `${meta.license}\n`);
}
writeFileSync(join(out, "editor.LICENSES.txt"), parts.join("\n"));
console.log(`editor.js and editor.LICENSES.txt: ${packages.size} packages`);
