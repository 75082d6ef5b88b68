// `npm run bench`: bundles bench/page.ts with esbuild, serves it on loopback and runs it
// in headless Chromium (Debian's, via playwright-core); prints a table with ratios to
// the WebCrypto floor measured in the same run.
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { chromium } from "playwright-core";

const packageDir = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const bundle = await build({
  entryPoints: [join(packageDir, "bench", "page.ts")],
  bundle: true,
  format: "esm",
  platform: "browser",
  target: "es2022",
  minify: true,
  write: false,
});
const script = bundle.outputFiles[0]!.contents;
const server = createServer((request, response) => {
  if (request.url === "/bench.js") {
    response.writeHead(200, { "content-type": "text/javascript" }).end(script);
  } else if (request.url === "/directory.json") {
    response.writeHead(200, { "content-type": "application/json" }).end(readFileSync(join(packageDir, "..", "..", "docs", "vectors", "directory.json")));
  } else {
    response
      .writeHead(200, { "content-type": "text/html" })
      .end('<!doctype html><meta charset="utf-8"><script type="module" src="/bench.js"></script>');
  }
});
await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
const browser = await chromium.launch({ executablePath: process.env["CHROMIUM"] ?? "/usr/bin/chromium", args: ["--no-sandbox"] });
try {
  const page = await browser.newPage();
  await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
  await page.waitForFunction(() => (window as { virgilBench?: unknown }).virgilBench !== undefined, undefined, { timeout: 600_000 });
  const rows = (await page.evaluate(() => (window as { virgilBench?: unknown }).virgilBench)) as
    | { name: string; ms: number; mbPerS?: number }[]
    | string;
  if (typeof rows === "string") throw new Error(rows);
  const floor = rows.find((row) => row.name.includes("floor"))?.mbPerS ?? 1;
  console.log(`Chromium ${browser.version()}`);
  for (const row of rows) {
    const rate = row.mbPerS === undefined ? "" : `  ${row.mbPerS.toFixed(0)} MB/s  ${(row.mbPerS / floor).toFixed(2)}× the floor`;
    console.log(`${row.name.padEnd(58)} ${row.ms.toFixed(2).padStart(9)} ms${rate}`);
  }
} finally {
  await browser.close();
  server.close();
}
