// Builds the front end for closed government networks (no CDN):
// copies plain libraries into web/static/vendor and bundles each entry
// module web/assets/<name>.js (bpmn-js, charts, ...) into web/static/bundles.
import { cpSync, existsSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const vendor = join(root, "web", "static", "vendor");
const bundles = join(root, "web", "static", "bundles");
const assets = join(root, "web", "assets");
const files = {
  "bootstrap/dist/css/bootstrap.min.css": "bootstrap.min.css",
  "bootstrap/dist/css/bootstrap.min.css.map": "bootstrap.min.css.map",
  "bootstrap/dist/js/bootstrap.bundle.min.js": "bootstrap.bundle.min.js",
  "bootstrap/dist/js/bootstrap.bundle.min.js.map": "bootstrap.bundle.min.js.map",
  "htmx.org/dist/htmx.min.js": "htmx.min.js",
};

rmSync(vendor, { recursive: true, force: true });
mkdirSync(vendor, { recursive: true });
for (const [from, to] of Object.entries(files)) {
  cpSync(join(root, "node_modules", from), join(vendor, to));
}
console.log(`copied ${Object.keys(files).length} files to web/static/vendor`);

// Every top-level .js file in web/assets is an entry; sub-folders hold its modules.
const entries = (existsSync(assets) ? readdirSync(assets, { withFileTypes: true }) : [])
  .filter((e) => e.isFile() && e.name.endsWith(".js"))
  .map((e) => join(assets, e.name));
rmSync(bundles, { recursive: true, force: true });
if (entries.length) {
  await build({
    entryPoints: entries,
    bundle: true,
    minify: true,
    sourcemap: true,
    format: "iife",
    target: ["chrome100", "firefox100"],
    outdir: bundles,
    jsx: "automatic",
    jsxImportSource: "@bpmn-io/properties-panel/preact",
    loader: { ".woff": "file", ".woff2": "file", ".ttf": "file", ".eot": "file", ".svg": "file" },
    logLevel: "warning",
  });
}
console.log(`bundled ${entries.length} entries into web/static/bundles`);
