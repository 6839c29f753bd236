// Browser tests of the demo page that `c2cauth dev` serves: both widget
// modes, the origin policy as a browser applies it, keyboard use, a phone-sized
// screen and the rate limit. Run with `npm test` after ./setup.sh.

import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, describe, test } from "node:test";
import vm from "node:vm";

import { emulatorStats, launchBrowser, postJSON, repoDir, startDev, startOtherOrigin } from "./harness.js";

/** waitTimeout bounds every wait for the page. */
const waitTimeout = 10_000;

/** codePattern is the form of a Live Hub authentication code. */
const codePattern = /^LHv1_[0-9a-f]{32}$/;

/** finalCallState matches the text of a call status once the call has ended. */
const finalCallState = /^Call (connected|failed)/;

/**
 * recordStatusHistory runs in the page before its own script and records
 * every text that the two call statuses show, so that a test can check the
 * states a call went through, including those shown only for a moment.
 */
function recordStatusHistory() {
  window.statusHistory = {};
  document.addEventListener("DOMContentLoaded", () => {
    for (const testId of ["call-status", "bearer-call-status"]) {
      const node = document.querySelector(`[data-testid="${testId}"]`);
      const history = [node.textContent];
      window.statusHistory[testId] = history;
      new MutationObserver((records) => {
        for (const record of records) {
          if (record.addedNodes.length > 0) {
            history.push([...record.addedNodes].map((added) => added.textContent).join(""));
          }
        }
      }).observe(node, { childList: true });
    }
  });
}

/**
 * splitCalls splits a status history into one list of states per call.
 * Each call starts with "Requesting".
 */
function splitCalls(history) {
  const calls = [];
  for (const text of history) {
    if (text.startsWith("Requesting")) {
      calls.push([]);
    }
    calls.at(-1)?.push(text);
  }
  return calls;
}

/**
 * assertCallStates checks that a call went through each state in order and
 * that the word "connected" shows only in the final state of a call that
 * started.
 */
function assertCallStates(states, wantConnected) {
  const final = states.at(-1);
  for (const earlier of states.slice(0, -1)) {
    assert.doesNotMatch(earlier, /connected/i, `state before the end: got ${JSON.stringify(earlier)}, want no "connected"`);
  }
  if (!wantConnected) {
    assert.doesNotMatch(final, /connected/i, `final state of a failed call: got ${JSON.stringify(final)}`);
    assert.match(final, /^Call failed: /);
    return;
  }
  assert.match(final, /\bconnected\b/, `final state: got ${JSON.stringify(final)}`);
  const kinds = states.map((text) => text.split(/[ :]/)[0]);
  assert.deepEqual(kinds, ["Requesting", "Code", "Starting", "Call"], `states: got ${JSON.stringify(states)}`);
}

/**
 * watchNetwork records a page's requests through the DevTools protocol,
 * which, unlike Playwright's request events, shows CORS preflights, the
 * status of responses that CORS hid from the page, and why a request
 * failed.
 */
async function watchNetwork(context, page) {
  const byId = new Map();
  const entry = (requestId) => {
    if (!byId.has(requestId)) {
      byId.set(requestId, {});
    }
    return byId.get(requestId);
  };
  const cdp = await context.newCDPSession(page);
  cdp.on("Network.requestWillBeSent", ({ requestId, request }) => Object.assign(entry(requestId), { url: request.url, method: request.method, headers: request.headers }));
  cdp.on("Network.responseReceivedExtraInfo", ({ requestId, statusCode }) => Object.assign(entry(requestId), { status: statusCode }));
  cdp.on("Network.loadingFailed", ({ requestId, corsErrorStatus }) => Object.assign(entry(requestId), { failed: true, corsError: corsErrorStatus?.corsError }));
  await cdp.send("Network.enable");

  const requests = (filter) => [...byId.values()].filter((request) => request.url && filter(request));
  return {
    requests,
    // waitForFailures waits until count requests that match filter have
    // failed, because the page's fetch rejects a little before the
    // protocol reports the failure.
    async waitForFailures(filter, count) {
      const deadline = Date.now() + waitTimeout;
      let failed = [];
      while (Date.now() < deadline) {
        failed = requests((request) => request.failed && filter(request));
        if (failed.length >= count) {
          return failed;
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      throw new Error(`failed requests: got ${JSON.stringify(failed)}, want ${count}`);
    },
  };
}

describe("demo page", () => {
  let dev;
  let browser;
  const contexts = [];

  before(async () => {
    dev = await startDev();
    browser = await launchBrowser();
  });

  after(async () => {
    await Promise.all(contexts.map((context) => context.close()));
    await browser?.close();
    const exit = await dev?.stop();
    if (exit && exit.code !== 0) {
      console.error(`c2cauth dev exited with code ${exit.code}, signal ${exit.signal}; logs:\n${dev.logs()}`);
    }
  });

  /**
   * openPage opens the demo page in a new browser context, with its own
   * cookies, and collects the page's console errors.
   */
  async function openPage(options = {}) {
    const context = await browser.newContext({ viewport: { width: 1000, height: 800 }, ...options });
    context.setDefaultTimeout(waitTimeout);
    contexts.push(context);
    await context.addInitScript(recordStatusHistory);
    const page = await context.newPage();
    const consoleErrors = [];
    page.on("console", (message) => {
      if (message.type() === "error") {
        consoleErrors.push(message.text());
      }
    });
    page.on("pageerror", (err) => consoleErrors.push(err.message));
    await page.goto(dev.backendURL + "/");
    return { context, page, consoleErrors };
  }

  /** textOf returns the text of the element with the given data-testid. */
  function textOf(page, testId) {
    return page.getByTestId(testId).textContent();
  }

  /** waitForText waits until the element's text matches pattern and returns it. */
  async function waitForText(page, testId, pattern) {
    try {
      await page.waitForFunction(
        ([id, source, flags]) => new RegExp(source, flags).test(document.querySelector(`[data-testid="${id}"]`)?.textContent ?? ""),
        [testId, pattern.source, pattern.flags],
        { timeout: waitTimeout },
      );
    } catch (err) {
      throw new Error(`${testId}: got ${JSON.stringify(await textOf(page, testId))}, want a match for ${pattern}: ${err.message}`);
    }
    return textOf(page, testId);
  }

  /** signIn signs in through the form. */
  async function signIn(page, user, phone = "") {
    await page.getByTestId("user").fill(user);
    await page.getByTestId("phone").fill(phone);
    await page.getByTestId("sign-in").click();
    await waitForText(page, "signin-status", new RegExp(`^Signed in as ${user}\\b`));
  }

  /**
   * call presses a call button and returns the final status with the
   * auth-code response of the call and its decoded JSON body.
   */
  async function call(page, buttonTestId, statusTestId) {
    const [response] = await Promise.all([
      page.waitForResponse((candidate) => new URL(candidate.url()).pathname === "/v1/auth-code", { timeout: waitTimeout }),
      page.getByTestId(buttonTestId).click(),
    ]);
    const status = await waitForText(page, statusTestId, finalCallState);
    return { status, response, body: await response.json() };
  }

  /** statusHistory returns every text that a call status has shown. */
  async function statusHistory(page, testId) {
    return page.evaluate((id) => window.statusHistory[id], testId);
  }

  test("authURL call needs sign-in and gets a fresh code each time", async () => {
    const { page, consoleErrors } = await openPage();

    const signedOut = await call(page, "call-button", "call-status");
    assert.equal(signedOut.response.status(), 401);
    assert.equal(signedOut.body.error, "unauthenticated");
    assert.ok(signedOut.status.includes(signedOut.body.message), `call-status: got ${JSON.stringify(signedOut.status)}, want the 401 message ${JSON.stringify(signedOut.body.message)}`);
    assert.match(signedOut.status, /sign in/i);

    await signIn(page, "alice", "+14155550100");
    const first = await call(page, "call-button", "call-status");
    assert.match(first.status, /\bconnected\b/, `first call: got ${JSON.stringify(first.status)}`);
    assert.match(first.status, /\+14155550100/, "the call comes from the signed-in user's phone");
    assert.match(first.body.authenticationCode, codePattern);

    const second = await call(page, "call-button", "call-status");
    assert.match(second.status, /\bconnected\b/, `second call: got ${JSON.stringify(second.status)}`);
    assert.match(second.body.authenticationCode, codePattern);
    assert.notEqual(second.body.authenticationCode, first.body.authenticationCode, "each call needs a fresh code");

    const calls = splitCalls(await statusHistory(page, "call-status"));
    assert.equal(calls.length, 3, `calls in the status history: got ${JSON.stringify(calls)}`);
    assertCallStates(calls[0], false);
    assertCallStates(calls[1], true);
    assertCallStates(calls[2], true);

    // The first call's 401 is the only expected console error: Chromium
    // logs every failed request.
    const unexpected = consoleErrors.filter((text) => !/status of 401/.test(text));
    assert.deepEqual(unexpected, [], "console errors, such as a Content Security Policy violation");
  });

  test("generateCode call fails without a token and connects with one", async () => {
    const { page } = await openPage();
    // A session cookie must not help: generateCode sends no cookies.
    await signIn(page, "carol");

    const noToken = await call(page, "bearer-call-button", "bearer-call-status");
    assert.equal(noToken.response.status(), 401);
    assert.ok(noToken.status.includes(noToken.body.message), `bearer-call-status: got ${JSON.stringify(noToken.status)}, want the 401 message ${JSON.stringify(noToken.body.message)}`);
    assert.match(noToken.status, /Get a token/);
    const noTokenHeaders = await noToken.response.request().allHeaders();
    assert.equal(noTokenHeaders.cookie, undefined, "generateCode sends no cookie");

    await page.getByTestId("token-user").fill("bob");
    await page.getByTestId("token-phone").fill("+14155550111");
    await page.getByTestId("token-button").click();
    await waitForText(page, "token-status", /^Holding a token for bob\b/);

    const connected = await call(page, "bearer-call-button", "bearer-call-status");
    assert.match(connected.status, /\bconnected\b/, `bearer call: got ${JSON.stringify(connected.status)}`);
    assert.match(connected.status, /\+14155550111/, "the call comes from the token's phone");
    assert.match(connected.body.authenticationCode, codePattern);
    const headers = await connected.response.request().allHeaders();
    assert.match(headers.authorization ?? "", /^Bearer \S+$/);
    assert.equal(headers.cookie, undefined, "generateCode sends no cookie");

    await page.getByTestId("token-clear").click();
    const forgotten = await call(page, "bearer-call-button", "bearer-call-status");
    assert.equal(forgotten.response.status(), 401);

    const calls = splitCalls(await statusHistory(page, "bearer-call-status"));
    assert.equal(calls.length, 3, `calls in the status history: got ${JSON.stringify(calls)}`);
    assertCallStates(calls[0], false);
    assertCallStates(calls[1], true);
    assertCallStates(calls[2], false);
  });

  test("another origin cannot obtain a code in either mode", async () => {
    const { backendURL, emulatorURL } = dev;
    const otherOrigin = await startOtherOrigin();
    try {
      const token = await postJSON(`${backendURL}/dev/token`, { user: "mallory-target" });
      assert.equal(token.status, 200);
      const bearer = `Bearer ${token.body.accessToken}`;

      // The visitor is signed in, and browsers send 127.0.0.1 cookies to
      // every port of it, so only the origin policy keeps the page from a
      // code.
      const { context, page } = await openPage();
      await signIn(page, "dave");
      const statsBefore = await emulatorStats(emulatorURL);

      const otherPage = await context.newPage();
      const network = await watchNetwork(context, otherPage);
      const query = new URLSearchParams({ target: backendURL, token: token.body.accessToken });
      await otherPage.goto(`${otherOrigin.url}/?${query}`);
      const results = await otherPage.evaluate(() => window.attemptResults);
      assert.deepEqual(results.map((result) => result.name), ["authURL", "generateCode", "simple"]);
      for (const result of results) {
        assert.equal(result.outcome, "rejected", `${result.name}: got ${JSON.stringify(result)}, want the fetch to reject`);
        assert.equal(result.errorName, "TypeError", `${result.name}: got ${JSON.stringify(result)}`);
      }

      // Chromium reports why each fetch failed. Both widget modes need a
      // preflight, which the backend rejects with 403 and no
      // Access-Control-Allow-Origin, so their POSTs are never sent. The
      // simple request needs none: it is sent, with the visitor's cookie,
      // and rejected with 403, which the page may not read either.
      const authCodeURL = `${backendURL}/v1/auth-code`;
      const posts = await network.waitForFailures((request) => request.url === authCodeURL && request.method === "POST", 3);
      const preflights = network.requests((request) => request.url === authCodeURL && request.method === "OPTIONS");
      assert.deepEqual(preflights.map((request) => request.status), [403, 403], "preflight statuses");
      assert.deepEqual(
        posts.map((request) => [request.headers["Content-Type"], Boolean(request.headers.Authorization)]),
        [
          ["application/json", false],
          ["application/json", true],
          ["text/plain", false],
        ],
        "the failed POSTs, in the page's order",
      );
      // Chromium 156 reports a rejected preflight as
      // PreflightMissingAllowOriginHeader. Other versions may report the
      // 403 as PreflightInvalidStatus.
      for (const request of posts.slice(0, 2)) {
        assert.match(request.corsError ?? "", /^Preflight(MissingAllowOriginHeader|InvalidStatus)$/, `preflighted POST: got ${JSON.stringify(request)}`);
      }
      assert.equal(posts[2].corsError, "MissingAllowOriginHeader", `simple POST: got ${JSON.stringify(posts[2])}`);
      assert.deepEqual(posts.map((request) => request.status), [undefined, undefined, 403], "POST statuses");

      const statsAfter = await emulatorStats(emulatorURL);
      assert.equal(statsAfter.generateRequests, statsBefore.generateRequests, "generate requests to Live Hub during the attempts");

      // The same requests from Node, which can read the responses that the
      // browser hid from the page.
      for (const requestHeaders of ["content-type", "authorization, content-type"]) {
        const preflight = await fetch(`${backendURL}/v1/auth-code`, {
          method: "OPTIONS",
          headers: { Origin: otherOrigin.url, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": requestHeaders },
          signal: AbortSignal.timeout(5_000),
        });
        assert.equal(preflight.status, 403, `preflight for ${requestHeaders}`);
        assert.equal(preflight.headers.get("Access-Control-Allow-Origin"), null);
        assert.equal((await preflight.json()).error, "origin_not_allowed");
      }

      const login = await postJSON(`${backendURL}/dev/login`, { user: "dave" });
      assert.equal(login.status, 204);
      const cookie = login.headers.get("Set-Cookie").split(";")[0];
      for (const [name, credential] of [["cookie", { Cookie: cookie }], ["bearer", { Authorization: bearer }]]) {
        for (const site of ["same-site", "cross-site"]) {
          const direct = await postJSON(`${backendURL}/v1/auth-code`, {}, { Origin: otherOrigin.url, "Sec-Fetch-Site": site, ...credential });
          assert.equal(direct.status, 403, `direct ${site} POST with a ${name}`);
          assert.equal(direct.body.error, "origin_not_allowed");
          assert.equal(direct.headers.get("Access-Control-Allow-Origin"), null);
        }
      }
      // The same credentials work without the foreign origin, so the 403s
      // above come from the origin policy alone.
      for (const [name, credential] of [["cookie", { Cookie: cookie }], ["bearer", { Authorization: bearer }]]) {
        const allowed = await postJSON(`${backendURL}/v1/auth-code`, {}, credential);
        assert.equal(allowed.status, 200, `POST with a ${name} and no Origin: got ${JSON.stringify(allowed.body)}`);
      }
    } finally {
      await otherOrigin.close();
    }
  });

  test("keyboard alone signs in and places a call", async () => {
    const { page } = await openPage();
    const focused = () => page.evaluate(() => document.activeElement?.dataset?.testid ?? document.activeElement?.tagName);

    const order = [];
    for (let presses = 0; presses < 10 && order.at(-1) !== "call-button"; presses++) {
      await page.keyboard.press("Tab");
      order.push(await focused());
      if (order.at(-1) === "user") {
        await page.keyboard.press("ControlOrMeta+A");
        await page.keyboard.type("erin");
      }
      if (order.at(-1) === "sign-in") {
        await page.keyboard.press("Enter");
        await waitForText(page, "signin-status", /^Signed in as erin\b/);
        assert.equal(await focused(), "sign-in", "focus stays on the sign-in button");
      }
    }
    assert.deepEqual(order, ["user", "phone", "sign-in", "sign-out", "call-button"], "tab order");

    const outline = await page.evaluate(() => {
      const style = getComputedStyle(document.activeElement);
      return { style: style.outlineStyle, width: parseFloat(style.outlineWidth) };
    });
    assert.notEqual(outline.style, "none", "visible focus on the call button");
    assert.ok(outline.width >= 2, `focus outline width: got ${outline.width}px, want at least 2px`);

    await page.keyboard.press("Enter");
    const status = await waitForText(page, "call-status", finalCallState);
    assert.match(status, /\bconnected\b/);
    assert.equal(await focused(), "call-button", "focus stays on the call button during the call");
  });

  test("page is labelled for screen readers", async () => {
    const { page } = await openPage();
    const report = await page.evaluate(() => ({
      lang: document.documentElement.lang,
      h1: document.querySelectorAll("h1").length,
      unlabelled: [...document.querySelectorAll("input")].filter((input) => input.labels.length === 0).map((input) => input.id),
      notButtons: ["sign-in", "sign-out", "call-button", "token-button", "token-clear", "bearer-call-button", "copy-authurl", "copy-generatecode"].filter(
        (id) => document.querySelector(`[data-testid="${id}"]`)?.tagName !== "BUTTON",
      ),
      liveRegions: ["signin-status", "call-status", "token-status", "bearer-call-status"].map(
        (id) => document.querySelector(`[data-testid="${id}"]`).getAttribute("aria-live"),
      ),
    }));
    assert.equal(report.lang, "en");
    assert.equal(report.h1, 1, "one h1");
    assert.deepEqual(report.unlabelled, [], "inputs without a label");
    assert.deepEqual(report.notButtons, [], "controls that are not <button>");
    assert.deepEqual(report.liveRegions, ["polite", "polite", "polite", "polite"]);
  });

  test("phone-sized screen has no horizontal scroll", async () => {
    const { page } = await openPage({ viewport: { width: 375, height: 667 }, isMobile: true, hasTouch: true });
    await signIn(page, "frank", "+14155550122");
    await call(page, "call-button", "call-status");
    await page.getByTestId("token-button").click();
    await waitForText(page, "token-status", /^Holding a token/);
    await call(page, "bearer-call-button", "bearer-call-status");

    const widths = await page.evaluate(() => ({
      scroll: document.documentElement.scrollWidth,
      client: document.documentElement.clientWidth,
      // Text inside a snippet scrolls within the snippet's box.
      widest: Math.max(...[...document.body.querySelectorAll("*")].filter((node) => !node.parentElement.closest("pre")).map((node) => node.getBoundingClientRect().right)),
    }));
    assert.equal(widths.client, 375);
    assert.ok(widths.scroll <= widths.client, `scroll width: got ${widths.scroll}px, want at most ${widths.client}px`);
    assert.ok(widths.widest <= widths.client, `widest element ends at ${widths.widest}px, want at most ${widths.client}px`);
  });

  test("snippets name this origin and run as pasted", async () => {
    const { context, page } = await openPage();
    await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: dev.backendURL });
    const authCodeURL = `${dev.backendURL}/v1/auth-code`;

    await page.getByTestId("copy-authurl").click();
    await waitForText(page, "copy-authurl-status", /^Copied/);
    const authURLSnippet = await page.evaluate(() => navigator.clipboard.readText());
    assert.equal(authURLSnippet, await textOf(page, "snippet-authurl"), "the clipboard holds the snippet");
    const authURLOptions = vm.runInNewContext(`${authURLSnippet}\nclickToCallOptions`, {}, { timeout: 1_000 });
    assert.equal(authURLOptions.authURL, authCodeURL);

    await page.getByTestId("copy-generatecode").click();
    await waitForText(page, "copy-generatecode-status", /^Copied/);
    const generateCodeSnippet = await page.evaluate(() => navigator.clipboard.readText());
    assert.equal(generateCodeSnippet, await textOf(page, "snippet-generatecode"));
    assert.ok(generateCodeSnippet.includes(`"${authCodeURL}"`), "the generateCode snippet names this origin");

    // Run the pasted generateCode where a site would, on the page's origin,
    // with getAccessToken returning a dev token. Playwright evaluates the
    // text through the DevTools protocol, which the page's ban on eval does
    // not cover.
    const token = await postJSON(`${dev.backendURL}/dev/token`, { user: "gina" });
    const code = await page.evaluate(`(async () => {
      const getAccessToken = () => ${JSON.stringify(token.body.accessToken)};
      ${generateCodeSnippet}
      return clickToCallOptions.generateCode();
    })()`);
    assert.match(code, codePattern);
  });

  test("eleventh call in a minute shows the 429 message", async () => {
    const { page } = await openPage();
    await signIn(page, "rita");
    for (let i = 1; i <= 10; i++) {
      const { status } = await call(page, "call-button", "call-status");
      assert.match(status, /\bconnected\b/, `call ${i}`);
    }
    const limited = await call(page, "call-button", "call-status");
    assert.equal(limited.response.status(), 429);
    assert.equal(limited.body.error, "rate_limited");
    assert.ok(limited.status.includes(limited.body.message), `call-status: got ${JSON.stringify(limited.status)}, want the 429 message ${JSON.stringify(limited.body.message)}`);
    assert.match(limited.status, /Retry after \d+ s/);
  });

  test("screenshot after successful calls", async () => {
    const { page } = await openPage({ viewport: { width: 1000, height: 900 }, deviceScaleFactor: 1, colorScheme: "light" });
    await signIn(page, "alice", "+14155550100");
    await call(page, "call-button", "call-status");
    await page.getByTestId("token-button").click();
    await waitForText(page, "token-status", /^Holding a token/);
    const { status } = await call(page, "bearer-call-button", "bearer-call-status");
    assert.match(status, /\bconnected\b/);

    // The committed image is rewritten only on request, so that a test run
    // leaves the work tree clean: UPDATE_SCREENSHOT=1 npm test.
    const update = process.env.UPDATE_SCREENSHOT === "1";
    const outDir = update ? join(repoDir, "docs", "images") : mkdtempSync(join(tmpdir(), "c2cauth-e2e-shot-"));
    const path = join(outDir, "demo-page.png");
    mkdirSync(dirname(path), { recursive: true });
    try {
      // The image ends after the first snippet: enough to show both calls
      // and what a snippet looks like, at a size that suits a README.
      const snippetBox = await page.getByTestId("snippet-authurl").boundingBox();
      const height = Math.ceil(snippetBox.y + snippetBox.height + 24);
      const png = await page.screenshot({ path, fullPage: true, clip: { x: 0, y: 0, width: 1000, height } });
      assert.equal(png.subarray(1, 4).toString(), "PNG");
    } finally {
      if (!update) {
        rmSync(outDir, { recursive: true, force: true });
      }
    }
  });
});
