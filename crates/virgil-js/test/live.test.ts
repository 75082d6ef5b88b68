// A JavaScript user and a CLI user chat through real servers (`virgil init`, `virgil
// serve`, TLS with the deployment's own CA): the JS user publishes a card through the
// application server, finds the CLI user's verified card, sends; the CLI reads and
// verifies it and replies; the JS user reads and verifies the reply.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { bin, cliUser, deploy, required } from "./deployment.js";

const skip = bin === undefined && !required ? "VIRGIL_BIN is not set (cargo xtask ci sets it)" : false;
const chatClient = join(dirname(fileURLToPath(import.meta.url)), "..", "tools", "chat-client.js");

test("a JS user and a CLI user chat through real servers", { skip }, async () => {
  assert.ok(bin !== undefined, "CI=true: VIRGIL_BIN must name the virgil binary");
  const dir = mkdtempSync(join(tmpdir(), "virgil-js-live-"));
  const deployment = await deploy(dir);
  try {
    const { local } = deployment;
    const bob = cliUser(deployment, dir, "bob");
    bob(["key", "generate", "bob"]);
    bob(["register", "bob"]);
    bob(["login", "bob"]);
    bob(["card", "publish"]);

    const alice = (phase: string): string =>
      execFileSync(process.execPath, [chatClient, phase], {
        env: {
          ...process.env,
          NODE_EXTRA_CA_CERTS: join(local, "ca.pem"),
          CARDS_URL: deployment.cardsUrl,
          APP_URL: deployment.appUrl,
          APP_KEY: deployment.field("app_key"),
          SERVICE_KEY: deployment.field("cards_service_key"),
          KEY_FILE: join(dir, "alice.key"),
          RECORD_FILE: join(dir, "bob-search.json"),
          MESSAGE: "Hey Bob, how's it going? (from JavaScript)",
        },
      }).toString();
    assert.match(alice("send"), /^sent 1 with card [0-9a-f]{64}/);
    const inbox = bob(["inbox"]);
    assert.ok(inbox.includes("Hey Bob, how's it going? (from JavaScript)"), inbox);
    bob(["send", "alice"], "Fine, thanks! (from the CLI)");
    const read = alice("read");
    assert.match(read, /from bob: Fine, thanks! \(from the CLI\)/);
    assert.match(read, /^monitored up to epoch \d+/m, "alice's history holds only her card");
    // A search answer with bob's card dropped in transit no longer matches the
    // service's signature over the whole answer: refused.
    assert.match(alice("tampered"), /^refused: .*not signed as a whole/);
    // The key directory (§14–§15): a lookup proof changed by one byte, an answer
    // without proofs, and an older answer replayed after a newer one are refused.
    assert.match(alice("forged-proof"), /^refused: .*(lookup proof|key directory)/);
    assert.match(alice("no-proof"), /^refused: .*no key directory proof/);
    const dave = cliUser(deployment, dir, "dave"); // a new card: the next epoch
    dave(["key", "generate", "dave"]);
    dave(["register", "dave"]);
    dave(["login", "dave"]);
    dave(["card", "publish"]);
    assert.match(alice("rollback"), /^refused: .*rollback: the service showed epoch \d+, older than epoch \d+/);
    // Someone with alice's account password starts a reset (pending for a day, so no
    // lookup shows it as active): alice's device finds it in her history (§15).
    const mallory = (args: string[]): string =>
      execFileSync(bin!, args, {
        cwd: dir,
        env: {
          ...process.env,
          VIRGIL_HOME: join(dir, "mallory"),
          VIRGIL_CONFIG: deployment.clientToml,
          VIRGIL_PASSWORD: "mallory's key password",
          VIRGIL_ACCOUNT_PASSWORD: "alice's account password",
        },
      }).toString();
    mallory(["key", "generate", "alice-new"]);
    mallory(["login", "alice"]);
    mallory(["card", "reset", "--key", "alice-new"]);
    assert.match(alice("monitor"), /SelfCheckAlarm: .*the key directory listed card\(s\) of yours that this device did not make: [0-9a-f]{12}… \(epoch \d+\)/);
  } finally {
    deployment.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
