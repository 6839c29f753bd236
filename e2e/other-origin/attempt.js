"use strict";

// This page is served from another origin than c2cauth and tries to get an
// authentication code from it, as a hostile site would. It tries three
// requests: the widget's authURL mode with the visitor's cookies,
// generateCode with a valid bearer token, and a "simple" request that needs
// no CORS preflight. Each attempt records how its fetch ended. The attempts
// run one after another so that the test can match them to the browser's
// network events.

const params = new URLSearchParams(location.search);
const authCodeURL = params.get("target") + "/v1/auth-code";

async function attempt(name, init) {
  try {
    const response = await fetch(authCodeURL, { method: "POST", body: "{}", ...init });
    return { name, outcome: "response", status: response.status, body: await response.text() };
  } catch (err) {
    return { name, outcome: "rejected", errorName: err.name, message: err.message };
  }
}

window.attemptResults = (async () => {
  const results = [
    await attempt("authURL", {
      credentials: "include",
      headers: { "Content-Type": "application/json" },
    }),
    await attempt("generateCode", {
      credentials: "omit",
      headers: { "Content-Type": "application/json", Authorization: "Bearer " + params.get("token") },
    }),
    await attempt("simple", {
      credentials: "include",
      headers: { "Content-Type": "text/plain" },
    }),
  ];
  document.getElementById("results").textContent = JSON.stringify(results, null, 2);
  return results;
})();
