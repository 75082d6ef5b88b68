// Interop with the `virgil` CLI (the Rust core), both ways: suite 1, suite 2 and mixed
// recipients, a multi-chunk message, signed. `cargo xtask ci` sets VIRGIL_BIN.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { Card, PrivateKey, PublicKey, armor, decryptingStream, encryptingStream, envelope } from "../src/index.js";

const bin = process.env["VIRGIL_BIN"];
const required = process.env["CI"] === "true";
const skip = bin === undefined && !required ? "VIRGIL_BIN is not set (cargo xtask ci sets it)" : false;

test("the CLI reads what this package writes, and the reverse", { skip }, async () => {
  assert.ok(bin !== undefined, "CI=true: VIRGIL_BIN must name the virgil binary");
  const home = mkdtempSync(join(tmpdir(), "virgil-js-interop-"));
  try {
    const env = { ...process.env, VIRGIL_HOME: home, VIRGIL_CONFIG: join(home, "no-client.toml") };
    const cli = (args: string[]): string => execFileSync(bin, args, { env, cwd: home }).toString();
    const message = Uint8Array.from({ length: 200_000 }, (_, i) => (i * 7) % 256);
    const input = join(home, "message.bin");
    writeFileSync(input, message);
    const cliKeys: Record<string, PublicKey> = {};
    for (const suite of ["classic", "pq"]) {
      cli(["key", "generate", `cli-${suite}`, "--suite", suite, "--unprotected"]);
      cliKeys[suite] = PublicKey.fromString(cli(["key", "export-public", `cli-${suite}`]).trim());
    }
    for (const [suite, cliPublic] of Object.entries(cliKeys)) {
      for (const jsSuite of [1, 2] as const) {
        const js = PrivateKey.generate(jsSuite);
        const what = `CLI ${suite}, JS suite ${jsSuite}`;
        // CLI → JS: signed by the CLI's key, for this package's key.
        const fromCli = join(home, "from-cli.virgil");
        cli(["encrypt", "--to", js.publicKey.toString(), "--sign-with", `cli-${suite}`, "--no-self", "-o", fromCli, input]);
        const opened = await envelope.decryptThenVerify(readFileSync(fromCli), js, [cliPublic]);
        assert.deepEqual(opened.plaintext, message, what);
        // JS → CLI: signed by this package's key, for the CLI's key (and a second recipient).
        const fromJs = join(home, "from-js.virgil");
        writeFileSync(fromJs, await envelope.signThenEncrypt(message, js, [js.publicKey, cliPublic]));
        const output = join(home, "decrypted.bin");
        cli(["decrypt", "--key", `cli-${suite}`, "--from", js.publicKey.toString(), "-o", output, fromJs]);
        assert.deepEqual(new Uint8Array(readFileSync(output)), message, what);
      }
    }
    // Armor, both ways.
    const armoredKey = PrivateKey.generate(2);
    const fromCliArmored = join(home, "from-cli.asc");
    cli(["encrypt", "--armor", "--to", armoredKey.publicKey.toString(), "--sign-with", "cli-classic", "--no-self", "-o", fromCliArmored, input]);
    const text = readFileSync(fromCliArmored, "utf8");
    assert.ok(armor.isArmored(text));
    assert.deepEqual(
      (await envelope.decryptThenVerify(armor.dearmor(text), armoredKey, [cliKeys["classic"]!])).plaintext,
      message,
    );
    const toCliArmored = join(home, "to-cli.asc");
    writeFileSync(toCliArmored, armor.armor(await envelope.signThenEncrypt(message, armoredKey, [cliKeys["pq"]!])));
    const armoredOut = join(home, "armored.bin");
    cli(["decrypt", "--key", "cli-pq", "--from", armoredKey.publicKey.toString(), "-o", armoredOut, toCliArmored]);
    assert.deepEqual(new Uint8Array(readFileSync(armoredOut)), message, "armored, to the CLI");
    // Streaming, 3 MiB, both ways, through files read and written in pieces.
    const big = Uint8Array.from({ length: 3 << 20 }, (_, i) => (i * 31) % 256);
    const bigInput = join(home, "big.bin");
    writeFileSync(bigInput, big);
    const streamKey = PrivateKey.generate(1);
    const streamed = await collect(
      new Blob([big]).stream().pipeThrough(encryptingStream([cliKeys["pq"]!], streamKey)),
    );
    const streamedFile = join(home, "streamed.virgil");
    writeFileSync(streamedFile, streamed);
    const bigOut = join(home, "big-out.bin");
    cli(["decrypt", "--key", "cli-pq", "--from", streamKey.publicKey.toString(), "-o", bigOut, streamedFile]);
    assert.deepEqual(new Uint8Array(readFileSync(bigOut)), big, "streamed, to the CLI");
    const bigFromCli = join(home, "big-from-cli.virgil");
    cli(["encrypt", "--to", streamKey.publicKey.toString(), "--sign-with", "cli-classic", "--no-self", "-o", bigFromCli, bigInput]);
    const read = await collect(
      new Blob([readFileSync(bigFromCli)]).stream().pipeThrough(decryptingStream(streamKey, [cliKeys["classic"]!])),
    );
    assert.deepEqual(read, big, "streamed, from the CLI");
    // A card request made here, linked from another card, as the CLI reads it.
    const phone = PrivateKey.generate(1);
    const laptop = PrivateKey.generate(2);
    const first = Card.request(phone, { identity: "dana", appId: "chat", info: ["laptop", "Dana's laptop"] });
    const second = Card.request(laptop, { identity: "dana", appId: "chat" });
    second.linkFrom(first, phone);
    const inspected = JSON.parse(cli(["card", "inspect", "--json", second.export()]));
    assert.equal(inspected.id, second.idHex());
    const back = Card.fromJson(inspected);
    assert.equal(back.export(), second.export());
    assert.ok(back.isLinkedFrom(first));
    // Mixed recipients in one envelope (a suite-0x02 header): each CLI key reads it.
    const js = PrivateKey.generate(1);
    const mixed = join(home, "mixed.virgil");
    writeFileSync(mixed, await envelope.signThenEncrypt(message, js, [cliKeys["classic"]!, cliKeys["pq"]!]));
    for (const suite of ["classic", "pq"]) {
      const output = join(home, `mixed-${suite}.bin`);
      cli(["decrypt", "--key", `cli-${suite}`, "--from", js.publicKey.toString(), "-o", output, mixed]);
      assert.deepEqual(new Uint8Array(readFileSync(output)), message, `mixed, ${suite}`);
    }
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
});

async function collect(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const part of stream as unknown as AsyncIterable<Uint8Array>) parts.push(part);
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}
