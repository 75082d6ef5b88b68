// The package in real Chromium: bundled with esbuild (as an application would), loaded
// from a page, checked against every file in docs/vectors/. Debian's `chromium`, driven
// by playwright-core (no browser download). A screenshot of the results page is saved.
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { type Server, createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { chromium } from "playwright-core";
import { SCREENSHOTS } from "./deployment.js";

const here = dirname(fileURLToPath(import.meta.url));
const packageDir = join(here, "..", "..");
const root = join(packageDir, "..", "..");
const browserPath = process.env["CHROMIUM"] ?? "/usr/bin/chromium";
const required = process.env["CI"] === "true";
const skip = !existsSync(browserPath) && !required ? `no browser at ${browserPath} (apt install chromium)` : false;

test("every vector passes in Chromium, bundled by esbuild", { skip }, async () => {
  assert.ok(existsSync(browserPath), `CI=true: Chromium is required at ${browserPath}`);
  const bundle = await build({
    entryPoints: [join(packageDir, "browser", "vectors.ts")],
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    write: false,
    logLevel: "silent",
  });
  const script = bundle.outputFiles[0]!.contents;
  const page = `<!doctype html><meta charset="utf-8"><title>virgil-js vectors</title>
<h1>virgil-js: docs/vectors in the browser</h1><ul id="results"></ul><script type="module" src="/bundle.js"></script>`;
  const server: Server = createServer((request, response) => {
    const url = request.url ?? "/";
    if (url === "/") {
      response.writeHead(200, { "content-type": "text/html; charset=utf-8" }).end(page);
    } else if (url === "/bundle.js") {
      response.writeHead(200, { "content-type": "text/javascript" }).end(script);
    } else if (/^\/vectors\/[a-z]+\.json$/.test(url)) {
      response.writeHead(200, { "content-type": "application/json" }).end(readFileSync(join(root, "docs", url)));
    } else {
      response.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const browser = await chromium.launch({ executablePath: browserPath, args: ["--no-sandbox"] });
  try {
    const tab = await browser.newPage();
    const errors: string[] = [];
    tab.on("pageerror", (error) => errors.push(String(error)));
    await tab.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    await tab.waitForFunction(() => window.virgilResults !== undefined, undefined, { timeout: 120_000 });
    const results = (await tab.evaluate(() => window.virgilResults)) as { name: string; ok: boolean; detail: string }[];
    mkdirSync(SCREENSHOTS, { recursive: true });
    await tab.screenshot({ path: join(SCREENSHOTS, "vectors.png"), fullPage: true });
    assert.deepEqual(errors, []);
    assert.ok(results.length >= 12, JSON.stringify(results));
    for (const result of results) assert.ok(result.ok, `${result.name}: ${result.detail}`);
  } finally {
    await browser.close();
    server.close();
  }
});

declare global {
  interface Window {
    virgilResults?: { name: string; ok: boolean; detail: string }[];
  }
}
