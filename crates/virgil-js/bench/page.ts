// Browser benchmarks (docs/performance.md, "The browser"), bundled and run in Chromium by
// tools/bench.ts: 1 KiB one-shot, and 64 MiB streamed each way, against WebCrypto's raw
// AES-256-GCM over the same bytes in the same 64 KiB chunks as the floor.
import { PrivateKey, akd, decryptingStream, encryptingStream, envelope, fromBase64, fromHex } from "../src/index.js";


type Row = { name: string; ms: number; mbPerS?: number };

async function median(runs: number, body: () => Promise<unknown>): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    await body();
    times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}

async function drain(stream: ReadableStream<Uint8Array>): Promise<number> {
  let total = 0;
  const reader = stream.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return total;
    total += value.length;
  }
}

function source(total: number, piece: number): ReadableStream<Uint8Array> {
  const chunk = new Uint8Array(piece).fill(7);
  let sent = 0;
  return new ReadableStream({
    pull(controller) {
      if (sent >= total) {
        controller.close();
        return;
      }
      controller.enqueue(chunk.slice());
      sent += piece;
    },
  });
}

async function main(): Promise<Row[]> {
  const rows: Row[] = [];
  const alice = PrivateKey.generate(1);
  const bob = PrivateKey.generate(1);
  const small = new Uint8Array(1024).fill(1);
  const sealed = await envelope.signThenEncrypt(small, alice, [bob.publicKey, alice.publicKey]);
  rows.push({ name: "1 KiB sign-then-encrypt (2 recipients)", ms: await median(101, () => envelope.signThenEncrypt(small, alice, [bob.publicKey, alice.publicKey])) });
  rows.push({ name: "1 KiB decrypt-then-verify", ms: await median(101, () => envelope.decryptThenVerify(sealed, bob, [alice.publicKey])) });

  // The key directory: one lookup proof (bob's, a 10-identity tree) and one complete
  // history proof (3 versions), decoded and verified each time.
  const tree = (await (await fetch("/directory.json")).json()) as {
    root: string;
    vrf_key: string;
    epoch: number;
    lookups: { label: string; proof_base64: string }[];
    history: { proof_base64: string };
  };
  const [root, vrf, epoch] = [fromHex(tree.root), fromHex(tree.vrf_key), BigInt(tree.epoch)];
  const lookup = tree.lookups[0]!;
  const lookupProof = fromBase64(lookup.proof_base64);
  const historyProof = fromBase64(tree.history.proof_base64);
  rows.push({
    name: `lookup proof verification (${lookupProof.length} bytes)`,
    ms: await median(51, async () => akd.lookupVerify(vrf, root, epoch, fromHex(lookup.label), akd.decodeLookupProof(lookupProof))),
  });
  rows.push({
    name: `history proof verification, 3 versions (${historyProof.length} bytes)`,
    ms: await median(21, async () => akd.keyHistoryVerify(vrf, root, epoch, fromHex(lookup.label), akd.decodeHistoryProof(historyProof))),
  });

  const size = 64 << 20;
  const key = await crypto.subtle.importKey("raw", new Uint8Array(32).fill(3), "AES-GCM", false, ["encrypt"]);
  const piece = new Uint8Array(65_536).fill(7);
  const floor = await median(3, async () => {
    const iv = new Uint8Array(12);
    for (let i = 0; i < size / 65_536; i++) {
      new DataView(iv.buffer).setUint32(8, i);
      await crypto.subtle.encrypt({ name: "AES-GCM", iv }, key, piece);
    }
  });
  rows.push({ name: "64 MiB WebCrypto AES-256-GCM, 64 KiB chunks (the floor)", ms: floor, mbPerS: size / 1e6 / (floor / 1e3) });
  let ciphertext = new Uint8Array(0);
  const encrypt = await median(3, async () => {
    const parts: Uint8Array[] = [];
    const reader = source(size, 1 << 20).pipeThrough(encryptingStream([bob.publicKey], alice)).getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      parts.push(value);
    }
    ciphertext = new Uint8Array(await new Blob(parts as BlobPart[]).arrayBuffer());
  });
  rows.push({ name: "64 MiB streamed sign-then-encrypt", ms: encrypt, mbPerS: size / 1e6 / (encrypt / 1e3) });
  const decrypt = await median(3, () => drain(new Blob([ciphertext as BlobPart]).stream().pipeThrough(decryptingStream(bob, [alice.publicKey]))));
  rows.push({ name: "64 MiB streamed decrypt-then-verify", ms: decrypt, mbPerS: size / 1e6 / (decrypt / 1e3) });
  return rows;
}

declare global {
  interface Window {
    virgilBench?: Row[] | string;
  }
}

main()
  .then((rows) => {
    window.virgilBench = rows;
  })
  .catch((error) => {
    window.virgilBench = String(error);
  });
