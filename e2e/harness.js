// Starts what the browser tests run against: the real `c2cauth dev`
// built from this repository, headless Chromium from Debian, and a page on
// another origin.

import { execFile, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

import { chromium } from "playwright-core";

const e2eDir = dirname(fileURLToPath(import.meta.url));

/** repoDir is the root of the c2cauth module. */
export const repoDir = join(e2eDir, "..");

/** buildTimeout bounds `go build`, which may download modules on a fresh machine. */
const buildTimeout = 5 * 60_000;

/** startTimeout bounds the wait for `c2cauth dev` to print its URLs. */
const startTimeout = 15_000;

/** stopTimeout bounds the wait for `c2cauth dev` to exit after SIGTERM. */
const stopTimeout = 5_000;

/**
 * chromiumFlags are the flags this machine's Chromium needs: without the
 * background-networking ones it keeps trying hosts that the closed network
 * refuses. Playwright adds a fresh temporary --user-data-dir itself and
 * deletes it when the browser closes.
 */
export const chromiumFlags = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

function goCommand() {
  if (process.env.GO) {
    return process.env.GO;
  }
  const pathDirs = (process.env.PATH || "").split(":");
  if (pathDirs.some((dir) => dir && existsSync(join(dir, "go")))) {
    return "go";
  }
  return "/usr/local/go/bin/go";
}

/**
 * startDev builds `c2cauth dev` into a temporary folder and starts it on
 * free loopback ports. It resolves to the backend and emulator URLs, with
 * stop() to end the process and remove the folder.
 */
export async function startDev() {
  const workDir = mkdtempSync(join(tmpdir(), "c2cauth-e2e-"));
  const binary = join(workDir, "c2cauth");
  try {
    await promisify(execFile)(goCommand(), ["build", "-o", binary, "./cmd/c2cauth"], {
      cwd: repoDir,
      timeout: buildTimeout,
    });
  } catch (err) {
    rmSync(workDir, { recursive: true, force: true });
    throw new Error(`go build ./cmd/c2cauth failed: ${err.stderr || err.message}`);
  }

  const child = spawn(binary, ["dev", "--listen", "127.0.0.1:0", "--emulator-listen", "127.0.0.1:0"], {
    cwd: workDir,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (chunk) => (stdout += chunk));
  child.stderr.setEncoding("utf8").on("data", (chunk) => (stderr += chunk));
  const exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
  // Keep no server running if the test runner itself dies.
  const killOnExit = () => child.kill("SIGKILL");
  process.once("exit", killOnExit);

  const stop = async () => {
    process.removeListener("exit", killOnExit);
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), stopTimeout);
      await exited;
      clearTimeout(timer);
    }
    rmSync(workDir, { recursive: true, force: true });
    return exited;
  };

  try {
    const urls = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`c2cauth dev printed no URLs within ${startTimeout} ms; stdout:\n${stdout}\nstderr:\n${stderr}`)), startTimeout);
      const check = () => {
        const backend = /^\s*demo page\s+(http:\/\/\S+?)\/?$/m.exec(stdout);
        const emulator = /^\s*Live Hub emulator\s+(http:\/\/\S+)/m.exec(stdout);
        if (backend && emulator) {
          clearTimeout(timer);
          resolve({ backendURL: backend[1], emulatorURL: emulator[1] });
        }
      };
      child.stdout.on("data", check);
      exited.then(({ code, signal }) => {
        clearTimeout(timer);
        reject(new Error(`c2cauth dev exited early (code ${code}, signal ${signal}); stderr:\n${stderr}`));
      });
      check();
    });
    return { ...urls, stop, logs: () => stderr };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** launchBrowser starts Debian's headless Chromium through Playwright. */
export function launchBrowser() {
  const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
  if (!existsSync(executablePath)) {
    throw new Error(`no Chromium at ${executablePath}; run e2e/setup.sh, or set CHROMIUM to its path`);
  }
  return chromium.launch({ executablePath, headless: true, args: chromiumFlags, timeout: 30_000 });
}

/**
 * startOtherOrigin serves the files of e2e/other-origin/ on a free loopback
 * port: another origin than the backend's, though on the same host.
 */
export async function startOtherOrigin() {
  const files = {
    "/": { type: "text/html; charset=utf-8", body: readFileSync(join(e2eDir, "other-origin", "index.html")) },
    "/attempt.js": { type: "text/javascript; charset=utf-8", body: readFileSync(join(e2eDir, "other-origin", "attempt.js")) },
  };
  const server = createServer((req, res) => {
    const file = files[new URL(req.url, "http://127.0.0.1").pathname];
    if (!file) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { "Content-Type": file.type, "Cache-Control": "no-store" }).end(file.body);
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

/** postJSON sends a JSON POST from Node and returns the status, headers and decoded body. */
export async function postJSON(url, body, headers = {}) {
  const response = await fetch(url, {
    method: "POST",
    headers: { "Content-Type": "application/json", ...headers },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(5_000),
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text ? JSON.parse(text) : null };
}

/** emulatorStats returns the emulator's counters. */
export async function emulatorStats(emulatorURL) {
  const response = await fetch(`${emulatorURL}/emulator/v1/stats`, { signal: AbortSignal.timeout(5_000) });
  return response.json();
}
