// A JavaScript user and a CLI user chat through real servers (`virgil init`, `virgil
// serve`, TLS with the deployment's own CA): the JS user publishes a card through the
// application server, finds the CLI user's verified card, sends; the CLI reads and
// verifies it and replies; the JS user reads and verifies the reply.
import assert from "node:assert/strict";
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const bin = process.env["VIRGIL_BIN"];
const required = process.env["CI"] === "true";
const skip = bin === undefined && !required ? "VIRGIL_BIN is not set (cargo xtask ci sets it)" : false;
const chatClient = join(dirname(fileURLToPath(import.meta.url)), "..", "tools", "chat-client.js");

/** Starts `virgil serve …` and returns it with the URL it printed. */
async function serve(args: string[]): Promise<{ process: ChildProcess; url: string }> {
  const env: NodeJS.ProcessEnv = { ...process.env, RUST_LOG: "warn" };
  delete env["VIRGIL_CONFIG"];
  const child = spawn(bin!, ["serve", ...args], {
    env,
    stdio: ["ignore", "pipe", "inherit"],
  });
  const lines = createInterface({ input: child.stdout! });
  for await (const line of lines) {
    const url = line.trim().replace(/^listening on /, "");
    if (url !== line.trim()) {
      child.stdout!.resume();
      return { process: child, url };
    }
    throw new Error(`the server printed ${line}`);
  }
  throw new Error("the server did not start");
}

test("a JS user and a CLI user chat through real servers", { skip }, async () => {
  assert.ok(bin !== undefined, "CI=true: VIRGIL_BIN must name the virgil binary");
  const dir = mkdtempSync(join(tmpdir(), "virgil-js-live-"));
  const servers: ChildProcess[] = [];
  try {
    const local = join(dir, "local");
    execFileSync(bin, ["init", "--unprotected", "--app-id", "chat", "--dir", local]);
    const cards = await serve(["cards", "--config", join(local, "cards.toml"), "--listen", "127.0.0.1:0"]);
    servers.push(cards.process);
    const app = await serve([
      "app", "--config", join(local, "app.toml"), "--listen", "127.0.0.1:0",
      "--cards-url", cards.url, "--password-iterations", "1000",
    ]);
    servers.push(app.process);
    const clientToml = join(local, "client.toml");
    const config = readFileSync(clientToml, "utf8")
      .replace(/^cards_url = .*$/m, `cards_url = "${cards.url}"`)
      .replace(/^app_url = .*$/m, `app_url = "${app.url}"`);
    writeFileSync(clientToml, config);
    const field = (name: string): string => config.match(new RegExp(`^${name} = "(.*)"$`, "m"))![1]!;

    const bobEnv = {
      ...process.env,
      VIRGIL_HOME: join(dir, "bob"),
      VIRGIL_CONFIG: clientToml,
      VIRGIL_PASSWORD: "bob's key password",
      VIRGIL_ACCOUNT_PASSWORD: "bob's account password",
    };
    const bob = (args: string[], input?: string): string =>
      execFileSync(bin, args, { env: bobEnv, cwd: dir, ...(input === undefined ? {} : { input }) }).toString();
    bob(["key", "generate", "bob"]);
    bob(["register", "bob"]);
    bob(["login", "bob"]);
    bob(["card", "publish"]);

    const alice = (phase: string): string =>
      execFileSync(process.execPath, [chatClient, phase], {
        env: {
          ...process.env,
          NODE_EXTRA_CA_CERTS: join(local, "ca.pem"),
          CARDS_URL: cards.url,
          APP_URL: app.url,
          APP_KEY: field("app_key"),
          SERVICE_KEY: field("cards_service_key"),
          KEY_FILE: join(dir, "alice.key"),
          MESSAGE: "Hey Bob, how's it going? (from JavaScript)",
        },
      }).toString();
    assert.match(alice("send"), /^sent 1 with card [0-9a-f]{64}/);
    const inbox = bob(["inbox"]);
    assert.ok(inbox.includes("Hey Bob, how's it going? (from JavaScript)"), inbox);
    bob(["send", "alice"], "Fine, thanks! (from the CLI)");
    assert.match(alice("read"), /from bob: Fine, thanks! \(from the CLI\)/);
    // A search answer with bob's card dropped in transit no longer matches the
    // service's signature over the whole answer: refused.
    assert.match(alice("tampered"), /^refused: .*not signed as a whole/);
  } finally {
    for (const server of servers) server.kill("SIGTERM");
    rmSync(dir, { recursive: true, force: true });
  }
});
