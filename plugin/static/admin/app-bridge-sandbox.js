// Sandbox stand-in for Shopify's App Bridge (served only in sandbox mode, where no Shopify admin frames the
// page): window.shopify.idToken() asks the local app for a token it signed for the one sandbox shop.
(function () {
  "use strict";
  // Resolved against this script's own URL, so the app may live under a path prefix.
  var tokenUrl = new URL("id-token", document.currentScript.src).toString();

  window.shopify = {
    idToken: async function () {
      var response = await fetch(tokenUrl, { cache: "no-store", credentials: "same-origin" });
      if (!response.ok) {
        throw new Error("the sandbox could not sign an ID token (HTTP " + response.status + ")");
      }
      var body = await response.json();
      return body.token;
    },
  };
})();
