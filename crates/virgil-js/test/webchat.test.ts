// The web chat in real Chromium, through real servers (`virgil init`, `virgil serve`
// over TLS, the chat served by the application server at /chat/ with its
// Content-Security-Policy, the cards service allowing that one origin by CORS):
// - alice and bob, two browser profiles, register, generate and lock keys in their
//   browsers, publish cards, and chat both ways; their safety numbers agree;
// - carol, a `virgil` CLI user, and alice exchange messages both ways;
// - bob resets from a new browser (a new card linked from nothing, his old one revoked):
//   alice's page warns, stops sending, shows the new safety number (which bob's new
//   browser shows too), and sends again only once she accepts.
// A screenshot of each step goes to target/browser-screenshots/.
import assert from "node:assert/strict";
import { createHash, X509Certificate } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { type Browser, type Page, chromium } from "playwright-core";
import { buildWeb } from "../tools/build-web.js";
import { SCREENSHOTS, bin, cliUser, deploy, freePort, required } from "./deployment.js";

const browserPath = process.env["CHROMIUM"] ?? "/usr/bin/chromium";
const skip =
  bin === undefined && !required
    ? "VIRGIL_BIN is not set (cargo xtask ci sets it)"
    : !existsSync(browserPath) && !required
      ? `no browser at ${browserPath} (apt install chromium)`
      : false;

/** Chromium trusts the deployment's certificate by its key, and nothing else extra. */
function spkiHash(certificatePem: string): string {
  const spki = new X509Certificate(certificatePem).publicKey.export({ type: "spki", format: "der" });
  return createHash("sha256").update(spki).digest("base64");
}

let shot = 0;
async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  shot += 1;
  await page.screenshot({ path: join(SCREENSHOTS, `chat-${String(shot).padStart(2, "0")}-${name}.png`), fullPage: true });
}

async function user(browser: Browser, url: string, name: string, register: boolean, reset = false): Promise<Page> {
  const page = await (await browser.newContext()).newPage();
  // Generous: CI machines have 2 cores, and every page polls and checks proofs.
  page.setDefaultTimeout(90_000);
  const errors: string[] = [];
  page.on("pageerror", (error) => errors.push(String(error)));
  page.on("console", (message) => {
    if (message.type() === "error") errors.push(message.text());
  });
  await page.goto(`${url}/chat/`);
  await page.waitForSelector("body[data-ready=true]");
  await page.fill("#username", name);
  await page.fill("#password", `${name}'s account password`);
  await page.fill("#key-password", `${name}'s key password`);
  await page.click(register ? "#register" : "#login");
  if (reset) {
    await page.waitForSelector("#reset-offer:not([hidden])");
    await screenshot(page, `${name}-new-browser-offers-a-reset`);
    await page.click("#reset");
  }
  await page.waitForSelector("#chat:not([hidden]), #status.error");
  assert.equal(await page.isVisible("#chat"), true, `${name}: ${await page.textContent("#status")}`);
  assert.deepEqual(errors, [], `${name}'s page reported errors`);
  return page;
}

async function open(page: Page, contact: string): Promise<void> {
  await page.fill("#contact", contact);
  await page.click("#open");
  await page.waitForFunction(
    (who) => document.getElementById("safety-peer")?.textContent === who || !document.getElementById("warning")?.hidden,
    contact,
  );
}

async function send(page: Page, text: string): Promise<void> {
  await page.fill("#message", text);
  await page.click("#send");
  await page.waitForFunction((t) => Array.from(document.querySelectorAll("#messages li.mine .text")).some((e) => e.textContent === t), text);
}

/** Waits until `page` shows `text` from `from`, and returns whether it was verified. */
async function received(page: Page, from: string, text: string): Promise<string> {
  const item = page.locator(`#messages li[data-from="${from}"]`, { hasText: text });
  await item.waitFor();
  return (await item.getAttribute("data-verified")) ?? "";
}

test("two browsers and a CLI user chat through real servers; a key change is caught", { skip, timeout: 600_000 }, async () => {
  assert.ok(bin !== undefined, "CI=true: VIRGIL_BIN must name the virgil binary");
  assert.ok(existsSync(browserPath), `CI=true: Chromium is required at ${browserPath}`);
  const dir = mkdtempSync(join(tmpdir(), "virgil-webchat-"));
  const web = await buildWeb(join(dir, "webchat"));
  const appPort = await freePort();
  const deployment = await deploy(dir, {
    appPort,
    app: ["--web-root", web],
    cards: ["--cors-origin", `https://127.0.0.1:${appPort}`],
    resetDelay: 0,
  });
  const spki = spkiHash(readFileSync(join(deployment.local, "tls.pem"), "utf8"));
  const browser = await chromium.launch({
    executablePath: browserPath,
    args: ["--no-sandbox", `--ignore-certificate-errors-spki-list=${spki}`],
  });
  try {
    const url = deployment.appUrl;
    // Step 1: alice and bob, each in a browser profile of their own.
    const alice = await user(browser, url, "alice", true);
    await screenshot(alice, "alice-logged-in");
    const bob = await user(browser, url, "bob", true);

    // Step 2: they chat both ways; each message is verified against the sender's card.
    await open(alice, "bob");
    // The browser checked the key directory's lookup proof of bob's cards (§15).
    assert.match((await alice.textContent("#directory")) ?? "", /bob's cards proven by the key directory at epoch \d+/);
    await send(alice, "Hey Bob, how's it going?");
    await screenshot(alice, "alice-sent");
    await open(bob, "alice");
    assert.equal(await received(bob, "alice", "Hey Bob, how's it going?"), "true");
    await send(bob, "Fine, thanks! From my browser.");
    assert.equal(await received(alice, "bob", "Fine, thanks! From my browser."), "true");
    await screenshot(bob, "bob-read-and-replied");
    const aliceNumber = await alice.textContent("#safety-number");
    assert.match(aliceNumber ?? "", /^(\d{5} ){11}\d{5}$/);
    assert.equal(await bob.textContent("#safety-number"), aliceNumber, "both browsers show the same safety number");
    // Their verification codes also carry each browser's newest signed checkpoint: alice
    // pastes bob's and the page checks the number and that both see one directory.
    const bobCode = (await bob.textContent("#verify-code")) ?? "";
    assert.match(bobCode, /^virgil-verify:1:\d{60}:[A-Za-z0-9+/=]+$/);
    await alice.fill("#their-code", bobCode);
    await alice.click("#compare");
    await alice.waitForFunction(() => (document.getElementById("compare-result")?.textContent ?? "") !== "");
    assert.match((await alice.textContent("#compare-result")) ?? "", /the safety numbers match, and (both devices see one key directory \(epoch \d+\)|the devices saw epochs)/);
    await screenshot(alice, "codes-compared");
    const forged = bobCode.replace(/^(virgil-verify:1:)(\d)/, (_, prefix: string, digit: string) => `${prefix}${(Number(digit) + 1) % 10}`);
    await alice.fill("#their-code", forged);
    await alice.click("#compare");
    await alice.waitForFunction(() => document.getElementById("compare-result")?.className === "bad");
    assert.match((await alice.textContent("#compare-result")) ?? "", /the safety numbers differ/);

    // Step 3: carol uses the CLI; she and alice exchange messages both ways.
    const carol = cliUser(deployment, dir, "carol");
    carol(["key", "generate", "carol"]);
    carol(["register", "carol"]);
    carol(["login", "carol"]);
    carol(["card", "publish"]);
    carol(["send", "alice"], "Hello alice, from the command line");
    assert.equal(await received(alice, "carol", "Hello alice, from the command line"), "true");
    await open(alice, "carol");
    await send(alice, "Hello carol, from the browser");
    const inbox = carol(["inbox"]);
    assert.ok(inbox.includes("Hello carol, from the browser"), inbox);
    // The CLI reads the browser's verification code (§13): same number, one directory.
    const aliceCode = (await alice.textContent("#verify-code")) ?? "";
    const verified = carol(["contact", "verify", "alice", "--code", aliceCode]);
    assert.match(verified, /the safety numbers match/);
    assert.match(verified, /both devices see one key directory/);
    await screenshot(alice, "alice-and-the-cli");

    // Step 4: bob logs in on a new browser; the service refuses an unlinked second
    // card, so he resets (he lost his old browser): his old card is revoked and his
    // contacts see a new card not linked from any they know.
    const bobNew = await user(browser, url, "bob", false, true);
    assert.match((await bobNew.textContent("#who")) ?? "", /1 card\(s\)/);
    await open(alice, "bob");
    await alice.waitForSelector("#warning:not([hidden])");
    assert.match((await alice.textContent("#warning-text")) ?? "", /bob's keys changed/);
    assert.equal(await alice.isDisabled("#send"), true, "sending stops at a key change");
    await screenshot(alice, "key-change-warning");
    // The number alice is asked to compare is the one bob's new browser shows.
    await open(bobNew, "alice");
    assert.equal(await alice.textContent("#warning-number"), await bobNew.textContent("#safety-number"));
    await screenshot(bobNew, "bob-new-browser-safety-number");

    await alice.click("#accept");
    await alice.waitForSelector("#warning", { state: "hidden" });
    await send(alice, "Got your new key, Bob.");
    assert.equal(await received(bobNew, "alice", "Got your new key, Bob."), "true");
    // The old browser's card is revoked: alice's page encrypted to the new card only.
    const refused = bob.locator('#messages li[data-from="alice"][data-verified="false"]');
    await refused.waitFor();
    assert.match((await refused.textContent()) ?? "", /not encrypted for this browser's key/);
    // bob's old browser also says why: its card is no longer active (self-monitoring).
    await bob.waitForSelector("#alarm:not([hidden])");
    assert.match((await bob.textContent("#alarm-text")) ?? "", /this device's card is no longer active/);
    assert.equal(await alice.isHidden("#alarm"), true, "alice's own cards are all hers");
    await screenshot(bob, "bob-old-browser-cannot-read");
    await screenshot(bobNew, "bob-new-browser-reads");
  } finally {
    await browser.close();
    deployment.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
