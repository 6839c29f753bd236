"use strict";

// The demo plays the click-to-call widget in its authURL mode: before each
// call it POSTs to the auth-code endpoint with the session cookie, then the
// dev-only /dev/redeem path stands for the SDK starting the call with the code.

const el = (id) => document.getElementById(id);

function show(node, text, kind) {
  node.textContent = text;
  node.className = kind || "";
}

async function postJSON(path, body) {
  const response = await fetch(path, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  let data = null;
  if (response.status !== 204) {
    try {
      data = await response.json();
    } catch {
      data = null;
    }
  }
  return { response, data };
}

function errorText(response, data) {
  if (data && data.message) {
    return data.message + " (" + response.status + " " + data.error + ")";
  }
  return "The server answered " + response.status + ".";
}

el("signin-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const status = el("signin-status");
  const user = el("user").value.trim();
  const phone = el("phone").value.trim();
  const body = phone ? { user, phone } : { user };
  show(status, "Signing in…");
  try {
    const { response, data } = await postJSON("/dev/login", body);
    if (response.status !== 204) {
      show(status, "Sign-in failed: " + errorText(response, data), "error");
      return;
    }
    show(status, "Signed in as " + user + (phone ? " with phone " + phone : "") + ".", "ok");
  } catch (err) {
    show(status, "Sign-in failed: " + err.message, "error");
  }
});

el("sign-out").addEventListener("click", async () => {
  const status = el("signin-status");
  try {
    await postJSON("/dev/logout", {});
    show(status, "Signed out.");
  } catch (err) {
    show(status, "Sign-out failed: " + err.message, "error");
  }
});

el("call-button").addEventListener("click", async () => {
  const status = el("call-status");
  const codeLine = el("call-code");
  const button = el("call-button");
  button.disabled = true;
  codeLine.textContent = "";
  try {
    show(status, "Requesting an authentication code…");
    const issued = await postJSON("/v1/auth-code", {});
    if (issued.response.status !== 200) {
      show(status, "Call failed: " + errorText(issued.response, issued.data), "error");
      return;
    }
    const code = issued.data.authenticationCode;
    codeLine.textContent = "Code: " + code.slice(0, 9) + "…";

    show(status, "Code received; starting the call…");
    const started = await postJSON("/dev/redeem", { authenticationCode: code });
    if (started.response.status !== 200) {
      show(status, "Call failed: " + errorText(started.response, started.data), "error");
      return;
    }
    show(status, "Call connected through SIP connection " + started.data.sipConnectionId + ".", "ok");
  } catch (err) {
    show(status, "Call failed: " + err.message, "error");
  } finally {
    button.disabled = false;
  }
});
