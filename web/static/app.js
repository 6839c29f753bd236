"use strict";

// The demo page plays a website with the AudioCodes click-to-call widget.
// Both call buttons do what the widget does before each call, in its two
// modes: get a single-use authentication code, then start the call with it.
// The dev-only /dev/redeem relay to the Live Hub emulator stands for the
// widget starting the call.

const byId = (id) => document.getElementById(id);

// authCodeURL is the endpoint that both snippets name.
const authCodeURL = location.origin + "/v1/auth-code";

// bearerToken is the dev access token that "Get a token" fetched. It lives
// in memory only, as a site keeps its own access token.
let bearerToken = "";

// ServerError is an error response of the backend, {"error", "message"},
// with its status and Retry-After header, so that the page can show all of it.
class ServerError extends Error {
  constructor(response, data) {
    const hasMessage = data && typeof data.message === "string";
    super(hasMessage ? data.message : "The server responded with status " + response.status + ".");
    this.name = "ServerError";
    this.status = response.status;
    this.code = data && typeof data.error === "string" ? data.error : "";
    this.retryAfter = response.headers.get("Retry-After");
  }
}

// describe returns the text shown for a failure. A server message is shown
// word for word, followed by its status and error code.
function describe(err) {
  if (err instanceof TypeError) {
    // fetch rejects with a TypeError when no response arrived, or when CORS
    // hid the response from the page.
    return "No answer from " + location.origin + " (" + err.message + "). Is c2cauth dev still running?";
  }
  if (!(err instanceof ServerError)) {
    return err.message;
  }
  let text = err.message + " (" + err.status + (err.code ? " " + err.code : "") + ")";
  if (err.retryAfter) {
    text += " Retry after " + err.retryAfter + " s.";
  }
  return text;
}

function show(node, text, kind) {
  node.textContent = text;
  node.className = "status" + (kind ? " " + kind : "");
}

// shorten keeps the prefix of a code or token: enough to tell two apart,
// too little to use.
function shorten(secret, length) {
  return secret.slice(0, length) + "…";
}

// postJSON sends body as JSON and returns the response with its decoded
// JSON body, or null when it has none.
async function postJSON(url, body, { credentials = "same-origin", headers = {} } = {}) {
  const response = await fetch(url, {
    method: "POST",
    credentials,
    headers: { "Content-Type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
  const data = await response.json().catch(() => null);
  return { response, data };
}

// fetchCodeFromAuthURL does what the widget does with its authURL option:
// POST {} with the visitor's cookies and read the code from the response.
// Credentials "include" sends the cookies even when authURL is on another
// origin than the page, as when c2cauth runs apart from the site.
async function fetchCodeFromAuthURL() {
  const { response, data } = await postJSON(authCodeURL, {}, { credentials: "include" });
  if (!response.ok || !data || typeof data.authenticationCode !== "string") {
    throw new ServerError(response, data);
  }
  return data.authenticationCode;
}

// generateCode is the function of the generateCode snippet, with the dev
// token as the site's access token. Without a token it sends no
// Authorization header, so the page shows what the backend returns then.
async function generateCode() {
  const headers = { "Content-Type": "application/json" };
  if (bearerToken) {
    headers.Authorization = "Bearer " + bearerToken;
  }
  const response = await fetch(authCodeURL, {
    method: "POST",
    credentials: "omit",
    headers,
    body: "{}",
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok || typeof data.authenticationCode !== "string") {
    throw new ServerError(response, data);
  }
  return data.authenticationCode;
}

// startCall stands for the widget starting a call with code. The emulator
// checks the code, and the caller phone when the code asserts one. The
// relay takes the caller phone from the request's session cookie or bearer
// token.
async function startCall(code, requestOptions) {
  const { response, data } = await postJSON("/dev/redeem", { authenticationCode: code }, requestOptions);
  if (!response.ok || !data) {
    throw new ServerError(response, data);
  }
  return data;
}

// callFlows describes the two call buttons: the widget in authURL mode with
// the session cookie, and in generateCode mode with the bearer token.
const callFlows = {
  authURL: {
    button: byId("call-button"),
    status: byId("call-status"),
    codeLine: byId("call-code"),
    getCode: fetchCodeFromAuthURL,
    startOptions: () => ({ credentials: "same-origin" }),
    hint: () => "",
  },
  generateCode: {
    button: byId("bearer-call-button"),
    status: byId("bearer-call-status"),
    codeLine: byId("bearer-call-code"),
    getCode: generateCode,
    startOptions: () => ({
      credentials: "omit",
      headers: bearerToken ? { Authorization: "Bearer " + bearerToken } : {},
    }),
    hint: () => (bearerToken ? "" : " No bearer token was sent: press Get a token first."),
  },
};

// placeCall runs one call and shows each state. The word "connected"
// appears only in the final state of a call that started, so that tests
// and people can rely on it.
async function placeCall(flow) {
  // A busy button stays focusable, unlike a disabled one, so keyboard users
  // keep their place while the call runs.
  if (flow.button.getAttribute("aria-disabled") === "true") {
    return;
  }
  flow.button.setAttribute("aria-disabled", "true");
  flow.codeLine.textContent = "";
  let code = "";
  try {
    show(flow.status, "Requesting an authentication code…", "busy");
    code = await flow.getCode();
    show(flow.status, "Code received: " + shorten(code, 11) + " (valid 60 s, for one call).", "busy");
    flow.codeLine.textContent = "Code " + shorten(code, 11) + " from " + authCodeURL;

    show(flow.status, "Starting the call with the code…", "busy");
    const call = await startCall(code, flow.startOptions());
    const from = call.callerPhone ? " from " + call.callerPhone : "";
    show(flow.status, "Call connected" + from + " through SIP connection " + call.sipConnectionId + ".", "ok");
  } catch (err) {
    const hint = code ? "" : flow.hint();
    show(flow.status, "Call failed: " + describe(err) + hint, "error");
  } finally {
    flow.button.removeAttribute("aria-disabled");
  }
}

function readUserForm(userInput, phoneInput) {
  const user = userInput.value.trim();
  const phone = phoneInput.value.trim();
  return { user, phone, body: phone ? { user, phone } : { user } };
}

byId("signin-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const status = byId("signin-status");
  const { user, phone, body } = readUserForm(byId("user"), byId("phone"));
  show(status, "Signing in…", "busy");
  try {
    const { response, data } = await postJSON("/dev/login", body);
    if (response.status !== 204) {
      throw new ServerError(response, data);
    }
    show(status, "Signed in as " + user + (phone ? " with phone " + phone : "") + ".", "ok");
  } catch (err) {
    show(status, "Sign-in failed: " + describe(err), "error");
  }
});

byId("sign-out").addEventListener("click", async () => {
  const status = byId("signin-status");
  try {
    const { response, data } = await postJSON("/dev/logout", {});
    if (response.status !== 204) {
      throw new ServerError(response, data);
    }
    show(status, "Signed out.");
  } catch (err) {
    show(status, "Sign-out failed: " + describe(err), "error");
  }
});

byId("token-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const status = byId("token-status");
  const { user, phone, body } = readUserForm(byId("token-user"), byId("token-phone"));
  show(status, "Getting a token…", "busy");
  try {
    // The token request needs no cookie: the token is the sign-in.
    const { response, data } = await postJSON("/dev/token", body, { credentials: "omit" });
    if (!response.ok || !data || typeof data.accessToken !== "string") {
      throw new ServerError(response, data);
    }
    bearerToken = data.accessToken;
    const hours = Math.round(data.expiresIn / 360) / 10;
    show(status, "Holding a token for " + user + (phone ? " with phone " + phone : "") + ", valid " + hours + " h: " + shorten(bearerToken, 12), "ok");
  } catch (err) {
    show(status, "Getting a token failed: " + describe(err), "error");
  }
});

byId("token-clear").addEventListener("click", () => {
  bearerToken = "";
  show(byId("token-status"), "No token: generateCode now sends no Authorization header.");
});

for (const flow of Object.values(callFlows)) {
  flow.button.addEventListener("click", () => placeCall(flow));
}

// The snippets name this server's own URL, whatever address it listens on.
for (const node of document.querySelectorAll(".origin")) {
  node.textContent = location.origin;
}

for (const button of document.querySelectorAll("button[data-copy]")) {
  button.addEventListener("click", async () => {
    const snippet = byId(button.dataset.copy);
    const status = byId(button.dataset.copy + "-status");
    try {
      await navigator.clipboard.writeText(snippet.textContent);
      show(status, "Copied to the clipboard.", "ok");
    } catch {
      // The clipboard API exists only in secure contexts (HTTPS or
      // loopback) and the browser may refuse it, so select the text for a
      // manual copy instead.
      const range = document.createRange();
      range.selectNodeContents(snippet);
      const selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      show(status, "The browser did not allow copying, so the snippet is selected: press Ctrl+C (Cmd+C on a Mac).", "error");
    }
  });
}
