// `npm run build:web`: the web chat into dist/webchat — index.html and chat.css as they are,
// web/chat.ts and the package bundled by esbuild into one chat.js (no inline script:
// the server's Content-Security-Policy allows scripts from the page's origin only).
// The application server serves the folder at /chat/ (`[web] root`).
import { copyFileSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const packageDir = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
/** Where the built chat goes. */
export const WEB_DIR = join(packageDir, "dist", "webchat");

/** Builds the web chat into `out`. */
export async function buildWeb(out = WEB_DIR): Promise<string> {
  mkdirSync(out, { recursive: true });
  await build({
    entryPoints: [join(packageDir, "web", "chat.ts")],
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    minify: true,
    sourcemap: false,
    outfile: join(out, "chat.js"),
    logLevel: "warning",
  });
  for (const file of ["index.html", "chat.css"]) copyFileSync(join(packageDir, "web", file), join(out, file));
  return out;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  console.log(`web chat written to ${await buildWeb()}`);
}
