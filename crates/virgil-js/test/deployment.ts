// A real deployment for the JS tests: `virgil init` (TLS with its own CA), then both
// servers started with `virgil serve` on ephemeral ports.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

/** Where screenshots go (a person can look at what the page showed): target/browser-screenshots. */
export const SCREENSHOTS = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..", "..", "target", "browser-screenshots");

/** The `virgil` binary (`cargo xtask ci` sets VIRGIL_BIN), if any. */
export const bin = process.env["VIRGIL_BIN"];
/** Under CI=true a test that needs the binary or the browser fails instead of skipping. */
export const required = process.env["CI"] === "true";

/** Starts `virgil serve …` and returns it with the URL it printed. */
export async function serve(args: string[]): Promise<{ process: ChildProcess; url: string }> {
  const env: NodeJS.ProcessEnv = { ...process.env, RUST_LOG: "warn" };
  delete env["VIRGIL_CONFIG"];
  const child = spawn(bin!, ["serve", ...args], { env, stdio: ["ignore", "pipe", "inherit"] });
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

/** A free port on 127.0.0.1 (for a server whose origin must be known before it starts). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

/** A running deployment: its URLs, directory, client.toml fields and servers. */
export interface Deployment {
  local: string;
  cardsUrl: string;
  appUrl: string;
  clientToml: string;
  field(name: string): string;
  stop(): void;
}

/**
 * `virgil init` in `dir/local`, then the cards service and the application server.
 * `app` adds options to the application server's command line; `cards` to the
 * service's; `resetDelay` replaces cards.toml's `reset_delay_seconds`.
 */
export async function deploy(
  dir: string,
  options: { app?: string[]; cards?: string[]; appPort?: number; resetDelay?: number } = {},
): Promise<Deployment> {
  const local = join(dir, "local");
  execFileSync(bin!, ["init", "--unprotected", "--app-id", "chat", "--dir", local]);
  if (options.resetDelay !== undefined) {
    const cardsToml = join(local, "cards.toml");
    const text = readFileSync(cardsToml, "utf8").replace(/^reset_delay_seconds = .*$/m, `reset_delay_seconds = ${options.resetDelay}`);
    if (!text.includes(`reset_delay_seconds = ${options.resetDelay}`)) throw new Error("cards.toml has no reset_delay_seconds");
    writeFileSync(cardsToml, text);
  }
  const servers: ChildProcess[] = [];
  try {
    const cards = await serve(["cards", "--config", join(local, "cards.toml"), "--listen", "127.0.0.1:0", ...(options.cards ?? [])]);
    servers.push(cards.process);
    const app = await serve([
      "app", "--config", join(local, "app.toml"), "--listen", `127.0.0.1:${options.appPort ?? 0}`,
      "--cards-url", cards.url, "--password-iterations", "1000", ...(options.app ?? []),
    ]);
    servers.push(app.process);
    const clientToml = join(local, "client.toml");
    const config = readFileSync(clientToml, "utf8")
      .replace(/^cards_url = .*$/m, `cards_url = "${cards.url}"`)
      .replace(/^app_url = .*$/m, `app_url = "${app.url}"`);
    writeFileSync(clientToml, config);
    return {
      local,
      cardsUrl: cards.url,
      appUrl: app.url,
      clientToml,
      field: (name) => config.match(new RegExp(`^${name} = "(.*)"$`, "m"))![1]!,
      stop: () => servers.forEach((server) => server.kill("SIGTERM")),
    };
  } catch (error) {
    servers.forEach((server) => server.kill("SIGTERM"));
    throw error;
  }
}

/** Runs the `virgil` CLI as `user` of `deployment` (its own home, passwords from the environment). */
export function cliUser(deployment: Deployment, dir: string, user: string): (args: string[], input?: string) => string {
  const env = {
    ...process.env,
    VIRGIL_HOME: join(dir, user),
    VIRGIL_CONFIG: deployment.clientToml,
    VIRGIL_PASSWORD: `${user}'s key password`,
    VIRGIL_ACCOUNT_PASSWORD: `${user}'s account password`,
  };
  return (args, input) =>
    execFileSync(bin!, args, { env, cwd: dir, ...(input === undefined ? {} : { input }) }).toString();
}
